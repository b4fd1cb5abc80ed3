"""Where training metrics go: TensorBoard event files and ``metrics.jsonl``.

Only process 0 writes. ``metrics.jsonl`` holds one JSON object per logging
step (``{"step": ..., "d_loss": ..., ...}``) so a run can be read back with
nothing but the standard library. Values are floats, except the few string
fields a row may carry, such as ``eval_reference`` (the reference key of the
``eval/`` metrics in the same row).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

import jax


class MetricWriter:
    def __init__(self, workdir: str):
        self._active = jax.process_index() == 0
        self._path = os.path.join(workdir, "metrics.jsonl")
        self._tb = None
        if self._active:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

    def write_scalars(self, step: int, scalars: Mapping[str, float],
                      text: Mapping[str, str] | None = None) -> None:
        """One row: the float ``scalars`` and, as strings, ``text`` (such as the
        reference key of evaluation metrics; TensorBoard gets them as text)."""
        if not self._active:
            return
        row = {"step": int(step), **{k: float(v) for k, v in scalars.items()},
               **{k: str(v) for k, v in (text or {}).items()}}
        with open(self._path, "a") as f:
            f.write(json.dumps(row) + "\n")
        for name, value in scalars.items():
            self._tb.add_scalar(name, float(value), global_step=step)
        for name, value in (text or {}).items():
            self._tb.add_text(name, str(value), global_step=step)
        self._tb.flush()

    def write_text(self, tag: str, text: str) -> None:
        if self._active:
            self._tb.add_text(tag, text)
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def read_metrics(workdir: str, name: str = "metrics.jsonl") -> list[dict[str, float | str]]:
    """The rows of a run's ``metrics.jsonl`` (or ``eval.jsonl``), oldest first."""
    with open(os.path.join(workdir, name)) as f:
        return [json.loads(line) for line in f if line.strip()]
