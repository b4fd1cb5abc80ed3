"""Where training metrics go: TensorBoard event files and ``metrics.jsonl``.

Only process 0 writes. ``metrics.jsonl`` holds one JSON object per logging
step (``{"step": ..., "d_loss": ..., ...}``) so a run can be read back with
nothing but the standard library.
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

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        if not self._active:
            return
        row = {"step": int(step), **{k: float(v) for k, v in scalars.items()}}
        with open(self._path, "a") as f:
            f.write(json.dumps(row) + "\n")
        for name, value in row.items():
            if name != "step":
                self._tb.add_scalar(name, value, global_step=step)
        self._tb.flush()

    def write_text(self, tag: str, text: str) -> None:
        if self._active:
            self._tb.add_text(tag, text)
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def read_metrics(workdir: str) -> list[dict[str, float]]:
    """The rows of a run's ``metrics.jsonl``, oldest first."""
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]
