"""What a workdir may hold and how a run continues in it.

- :func:`check_workdir`: before anything compiles, the workdir must be writable, and a
  run already in it must be one the config can continue (:data:`RESUME_FIELDS`), unless
  ``restart`` moves that run's outputs to ``workdir/previous_runs/<time>/``.
- :func:`truncate_metrics`: on resume, rows logged after the restored checkpoint (by a
  run that died before its next checkpoint) are dropped, so the file reads as one run.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Any

import jax
from jax.experimental import multihost_utils

from gan_jax import configs
from gan_jax.errors import ConfigError


def truncate_metrics(workdir: str, last_step: int) -> None:
    """Drops metric rows logged after ``last_step`` (the run died past its checkpoint)."""
    path = os.path.join(workdir, "metrics.jsonl")
    if jax.process_index() != 0 or not os.path.exists(path):
        return
    with open(path) as f:
        rows = [line for line in f if line.strip() and json.loads(line)["step"] <= last_step]
    with open(path, "w") as f:
        f.writelines(rows)


# Fields a resumed run must share with the run that wrote the checkpoints: they fix
# the shapes in the state, or the data and random numbers the run continues with.
RESUME_FIELDS = ("model", "data.name", "data.path", "data.resolution", "data.channels",
                 "generated_labels", "optim.g.name", "optim.d.name", "optim.g.schedule",
                 "optim.d.schedule", "optim.g.warmup_steps", "optim.d.warmup_steps", "seed",
                 "batch_size",
                 "n_disc", "unroll_steps", "compute_dtype")
_RUN_OUTPUTS = ("checkpoints", "damaged_checkpoints", "best_checkpoint", "metrics.jsonl",
                "eval.jsonl", "config.json", "samples", "tensorboard")


def _field(tree: dict, dotted: str):
    for part in dotted.split("."):
        tree = tree.get(part) if isinstance(tree, dict) else None
    return tree


def _leaves(tree, prefix: str) -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key in sorted(tree):
        out.update(_leaves(tree[key], f"{prefix}.{key}"))
    return out


def has_checkpoints(workdir: str) -> bool:
    path = os.path.join(workdir, "checkpoints")
    return os.path.isdir(path) and any(n.isdigit() for n in os.listdir(path))


def check_workdir(config, workdir: str, restart: bool) -> None:
    """Refuses a workdir whose run cannot be continued with ``config`` (unless restarting).

    Also makes sure the workdir is writable, so a bad path fails before any compile.
    """
    try:
        os.makedirs(workdir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=workdir, prefix=".gan_jax_write_test"):
            pass
    except OSError as e:
        raise ConfigError(f"workdir {workdir!r} cannot be written: {e.strerror}") from None
    if restart:
        if jax.process_index() == 0 and any(
                os.path.exists(os.path.join(workdir, n)) for n in _RUN_OUTPUTS):
            target = os.path.join(workdir, "previous_runs", time.strftime("%Y%m%d-%H%M%S"))
            os.makedirs(target)
            for name in _RUN_OUTPUTS:
                if os.path.exists(os.path.join(workdir, name)):
                    os.rename(os.path.join(workdir, name), os.path.join(target, name))
            print(f"Starting over: the previous run's outputs were moved to {target}")
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices("gan_jax_restart")
        return
    saved_path = os.path.join(workdir, "config.json")
    if not (has_checkpoints(workdir) and os.path.exists(saved_path)):
        return
    with open(saved_path) as f:
        # Read through today's defaults, as a resumed run reads it: fields added since the
        # run started take their defaults on both sides.
        saved = json.loads(configs.from_json(json.load(f)).to_json())
    new = json.loads(config.to_json())
    for field in RESUME_FIELDS:
        before = _leaves(_field(saved, field), f"config.{field}")
        now = _leaves(_field(new, field), f"config.{field}")
        for name in sorted(set(before) | set(now)):
            if before.get(name) != now.get(name):
                raise ConfigError(
                    f"workdir {workdir!r} holds a run made with {name}={before.get(name)!r} "
                    f"(its config.json), not {now.get(name)!r}; use another workdir, or "
                    "--restart to move that run aside and start over")
