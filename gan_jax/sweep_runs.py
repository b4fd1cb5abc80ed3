"""One run of a sweep: trained into its own workdir, its record kept beside it.

Shared by every backend of :mod:`gan_jax.sweep` (the local process pool, SLURM and Ray jobs
in :mod:`gan_jax.cluster`, the vectorised groups of :mod:`gan_jax.sweep_vmap`), so a run's
files are the same whichever backend trained it: ``result.json`` (:data:`RESULT_FILE`: the
overrides, the wall time and the final row of metrics.jsonl) and ``run_seconds.json``
(:data:`SECONDS_FILE`: the wall time of every call that trained it, resumed calls included).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

RESULT_FILE = "result.json"
SECONDS_FILE = "run_seconds.json"  # wall time of every call so far, kept across resumes


class RunStopped(RuntimeError):
    """A run returned before its last step: SIGTERM or SIGINT asked training to stop."""


def _runs():
    # Imported when used: the host settings of this process come before JAX is imported.
    from gan_jax import runs

    return runs


def apply_overrides(config, overrides: Mapping[str, Any]) -> None:
    """Sets ``config.a.b = value`` for each ``{"a.b": value}``; the field must exist."""
    for field, value in overrides.items():
        *parents, leaf = field.split(".")
        node = config
        for part in parents:
            node = node[part]
        if leaf not in node:
            raise ValueError(f"override of unknown field config.{field}")
        node[leaf] = value


def final_metrics(run_workdir: str) -> dict[str, float]:
    """The last row of a run's metrics.jsonl (the final step's metrics)."""
    with open(os.path.join(run_workdir, "metrics.jsonl")) as f:
        rows = [line for line in f if line.strip()]
    return json.loads(rows[-1])


def run_one(config_path: str, overrides: dict[str, Any], run_workdir: str) -> dict[str, Any]:
    """Trains one run into ``run_workdir`` and writes its result.json; returns that record.

    Standard output and error of the run (progress messages, warnings) go to log.txt.
    """
    from gan_jax import train

    config = _runs().load_config(config_path)
    apply_overrides(config, overrides)
    os.makedirs(run_workdir, exist_ok=True)
    earlier = earlier_seconds(run_workdir)
    start = time.perf_counter()
    try:
        with open(os.path.join(run_workdir, "log.txt"), "a") as log, \
                contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            state = train.train_and_evaluate(config, run_workdir)
    finally:  # a stopped or failed call's time counts when a later call resumes the run
        seconds = earlier + time.perf_counter() - start
        write_json(os.path.join(run_workdir, SECONDS_FILE), {"run_seconds": seconds})
    reached = int(np.asarray(state.step))
    if reached < config.num_steps:  # stopped by SIGTERM/SIGINT: the run is not finished
        raise RunStopped(f"stopped at step {reached} of {config.num_steps}; rerunning the "
                         "sweep resumes it")
    record = {"overrides": overrides, "run_seconds": seconds,
              "metrics": final_metrics(run_workdir)}
    write_json(os.path.join(run_workdir, RESULT_FILE), record)
    return record


def write_json(path: str, obj: Any) -> None:
    """Writes ``obj`` to ``path`` atomically (a crash leaves the old file or the new one)."""
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(path + ".tmp", path)


def earlier_seconds(run_workdir: str) -> float:
    """Seconds spent by earlier calls of ``run_one`` on this run (0 for a new run)."""
    path = os.path.join(run_workdir, SECONDS_FILE)
    if not os.path.exists(path):
        return 0.0
    with open(path) as f:
        return float(json.load(f)["run_seconds"])


def run_safely(config_path, overrides, run_workdir) -> tuple[dict[str, Any] | None, str]:
    try:
        return run_one(config_path, overrides, run_workdir), ""
    except RunStopped:  # the machine is going away: the sweep stops too
        raise
    except Exception as e:  # one failed run must not stop the sweep
        return None, f"{type(e).__name__}: {e}".splitlines()[0]
