"""Ablation sweeps: one base config x variants x seeds, run and collected into tables and a plot.

A sweep file (``experiments/sweeps/*.py``) defines ``get_sweep()`` returning a dict:

* ``config``: path of the base experiment config (a file with ``get_config()``);
* ``overrides``: ``{dotted.field: value}`` applied to every run (optional);
* ``variants``: a list of ``(name, {dotted.field: value})`` pairs, or ``grid``: a dict
  ``{dotted.field: [values]}`` whose cartesian product gives variants named
  ``field=value,field=value``;
* ``seeds``: a list of ints (``config.seed`` of each run);
* ``metrics``: the metric names shown in the tables and the plot (optional; default every
  metric of the final row);
* ``slurm``, ``ray``: the resources of those backends (optional; see below and
  ``gan_jax/cluster.py``), e.g. ``slurm={"partition": "gpu", "time": "1:00:00", "gpus": 1}``.

Command::

    python -m gan_jax.sweep --sweep experiments/sweeps/losses_ring8.py --workdir W [--parallel 2]

Each run trains in its own workdir ``W/runs/<variant>/seed_<seed>/`` (a normal gan_jax workdir,
so one run can also be inspected or resumed alone), with its output in ``log.txt``. When a run
finishes, the last row of its ``metrics.jsonl`` (the metrics of the final step: losses and,
for toy mixtures, ``modes_captured``, ``high_quality``, ``reverse_kl``) is written to
``result.json`` beside it. A rerun skips every run that has a ``result.json`` and resumes any
other from its checkpoint, so an interrupted sweep picks up where it stopped. A run's
``run_seconds`` is the wall time of every call that trained it, resumed calls included
(kept in ``run_seconds.json`` beside ``result.json``). Then:

* ``W/results.csv``: one row per run (variant, seed, run_seconds, metrics);
* ``W/summary.csv`` and ``W/summary.md``: one row per variant, mean and standard deviation
  (sample std, ddof = 1; 0 for one seed) of each metric over the seeds;
* ``W/summary.png``: one horizontal bar chart per metric, variants side by side, bars at the
  mean with the std as error bars and each seed as a dot.

``--backend`` chooses where the runs train; every backend writes the same workdirs, result
files, tables and plot, and a rerun skips finished runs whichever backend trained them:

* ``local`` (default): in this process, one run after the other, or ``--parallel N`` runs at a
  time, each in its own process (spawned, so every worker starts JAX afresh);
* ``vmap``: runs that share one program shape trained together as one vmapped program
  (``gan_jax/sweep_vmap.py``);
* ``slurm``: one SLURM job per run (``--slurm_array``: one job array) through submitit, the
  resources from the sweep file's ``slurm`` dict or the flags ``--partition --time --gpus
  --cpus --mem``; a preempted or timed-out job saves a checkpoint and is requeued
  (``gan_jax/cluster.py``);
* ``ray``: one Ray task per run (``--cpus``, ``--gpus`` per run; the sweep file's ``ray``
  dict), on the cluster at ``--ray_address`` or a local one; a run whose worker dies is retried
  from its checkpoint.

A run that fails is reported by name with the path of its log, the others go on, and the
command exits with status 1 at the end.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import itertools
import json
import math
import multiprocessing
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gan_jax import host
from gan_jax.sweep_runs import (  # noqa: F401  (the records of one run, shared by the backends)
    RESULT_FILE,
    SECONDS_FILE,
    RunStopped,
    _runs,
    apply_overrides,
    earlier_seconds,
    final_metrics,
    run_one,
    run_safely,
    write_json,
)


class SweepStopped(RuntimeError):
    """The sweep stopped launching runs because one of them was stopped by a signal."""


def _worker_process_setup() -> None:
    """What a worker process of the pool sets before JAX or TensorFlow start."""
    host.quiet_tensorflow()
    host.retain_freed_memory()


def variants_of(sweep: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The sweep's (name, overrides) pairs, from ``variants`` or the product of ``grid``."""
    if ("variants" in sweep) == ("grid" in sweep):
        raise ValueError("a sweep needs exactly one of 'variants' and 'grid'")
    if "variants" in sweep:
        variants = [(str(name), dict(overrides)) for name, overrides in sweep["variants"]]
    else:
        fields = list(sweep["grid"])
        variants = [(",".join(f"{f}={v}" for f, v in zip(fields, values, strict=True)),
                     dict(zip(fields, values, strict=True)))
                    for values in itertools.product(*(sweep["grid"][f] for f in fields))]
    names = [name for name, _ in variants]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate variant names: {', '.join(duplicates)}")
    return variants


def run_dir(workdir: str, variant: str, seed: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.=,+-]", "_", variant)
    return os.path.join(workdir, "runs", safe, f"seed_{seed}")


def plan(sweep: Mapping[str, Any], workdir: str) -> list[dict[str, Any]]:
    """Every run of the sweep: variant, seed, overrides (common ones first) and workdir."""
    runs = []
    for name, variant_overrides in variants_of(sweep):
        for seed in sweep["seeds"]:
            overrides = {**sweep.get("overrides", {}), **variant_overrides, "seed": int(seed)}
            runs.append({"variant": name, "seed": int(seed), "overrides": overrides,
                         "workdir": run_dir(workdir, name, int(seed))})
    return runs


def _read_result(run_workdir: str) -> dict[str, Any] | None:
    path = os.path.join(run_workdir, RESULT_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _describe(record: Mapping[str, Any], metrics: Sequence[str]) -> str:
    values = record["metrics"]
    shown = ", ".join(f"{m} {values[m]:.3g}" for m in metrics if m in values)
    return f"{shown} ({record['run_seconds']:.1f} s)"


BACKENDS = ("local", "vmap", "slurm", "ray")


def run_sweep(sweep: Mapping[str, Any], workdir: str, parallel: int = 1,
              log=print, backend: str = "local", options=None) -> list[dict[str, Any]]:
    """Runs every unfinished run of ``sweep`` on ``backend`` and writes the tables and the plot.

    Returns the raw rows (one dict per finished run: variant, seed, run_seconds, metrics).
    Runs that fail are reported and left out; the others still go into the tables. A run
    stopped by SIGTERM or SIGINT (saved, resumable) in this machine's processes (``local``,
    ``vmap``) stops the sweep: no further run starts, the tables are written from the finished
    runs, and :class:`SweepStopped` is raised. ``options``: the
    :class:`gan_jax.cluster.SlurmOptions` or :class:`gan_jax.cluster.RayOptions` of those
    backends (defaults where None).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; allowed: {', '.join(BACKENDS)}")
    config_path = os.path.abspath(sweep["config"])
    runs = plan(sweep, workdir)
    metrics = list(sweep.get("metrics", ()))
    todo = [r for r in runs if _read_result(r["workdir"]) is None]
    where = {"local": f"{max(parallel, 1)} at a time", "vmap": "vmapped in groups",
             "slurm": "as SLURM jobs", "ray": "as Ray tasks"}[backend]
    log(f"sweep: {len(runs)} runs ({len(runs) - len(todo)} finished before), "
        f"{len(todo)} to run, {where}, in {workdir}")
    failures, reported = [], []

    def report(i: int, run: Mapping[str, Any], record, error: str) -> None:
        reported.append(run)
        where = f"[{i}/{len(todo)}] {run['variant']} seed {run['seed']}"
        if record is None:
            failures.append(where)
            log(f"{where}: FAILED: {error} (see {os.path.join(run['workdir'], 'log.txt')})")
        else:
            log(f"{where}: {_describe(record, metrics)}")

    start = time.perf_counter()
    stopped = None
    if backend in ("slurm", "ray") and todo:
        from gan_jax import cluster

        cluster.require(backend)
        if backend == "slurm":
            options = options or cluster.slurm_options({}, {}, workdir)
            cluster.run_slurm(config_path, todo, report, log, options)
        else:
            cluster.run_ray(config_path, todo, report, log, options or cluster.RayOptions())
    elif backend == "vmap" and todo:
        from gan_jax import sweep_vmap

        try:
            sweep_vmap.run_runs(config_path, todo, report, log)
        except RunStopped as e:
            stopped = str(e)
    elif parallel <= 1:
        for i, run in enumerate(todo, 1):
            try:
                report(i, run, *run_safely(config_path, run["overrides"], run["workdir"]))
            except RunStopped as e:
                stopped = f"[{i}/{len(todo)}] {run['variant']} seed {run['seed']} {e}"
                break
    elif todo:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(
                parallel, mp_context=context, initializer=_worker_process_setup) as pool:
            futures = {pool.submit(run_safely, config_path, run["overrides"], run["workdir"]):
                       run for run in todo}
            for i, future in enumerate(concurrent.futures.as_completed(futures), 1):
                run = futures[future]
                if future.cancelled():
                    continue
                try:
                    report(i, run, *future.result())
                except RunStopped as e:
                    stopped = stopped or f"{run['variant']} seed {run['seed']} {e}"
                    for other in futures:
                        other.cancel()  # runs not started yet; started ones go on
    log(f"sweep: ran {len(reported)} runs in {time.perf_counter() - start:.1f} s")

    rows = []
    for run in runs:
        record = _read_result(run["workdir"])
        if record is not None:
            rows.append({"variant": run["variant"], "seed": run["seed"],
                         "run_seconds": record["run_seconds"], **record["metrics"]})
    write_tables(rows, workdir, metrics or None, [name for name, _ in variants_of(sweep)])
    if failures:
        log(f"sweep: {len(failures)} runs failed: " + "; ".join(failures))
    if stopped:
        raise SweepStopped(f"sweep stopped: {stopped}")
    return rows


def _metric_names(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    names: list[str] = []
    for row in rows:
        for key, value in row.items():
            if key not in ("variant", "seed", "step") and key not in names \
                    and isinstance(value, int | float):
                names.append(key)
    return names


def aggregate(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str],
              order: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One row per variant: ``n`` and ``<metric>_mean``, ``<metric>_std`` (ddof 1; 0 if n=1)."""
    variants = list(order or [])
    for row in rows:
        if row["variant"] not in variants:
            variants.append(row["variant"])
    out = []
    for variant in variants:
        group = [r for r in rows if r["variant"] == variant]
        if not group:
            continue
        summary: dict[str, Any] = {"variant": variant, "n": len(group)}
        for m in metrics:
            values = np.asarray([r.get(m, math.nan) for r in group], np.float64)
            summary[f"{m}_mean"] = float(np.mean(values))
            summary[f"{m}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        out.append(summary)
    return out


def _format(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else str(value)


def markdown_table(summary: Sequence[Mapping[str, Any]], metrics: Sequence[str]) -> str:
    """The aggregated rows as a Markdown table, cells ``mean ± std``."""
    lines = ["| variant | seeds | " + " | ".join(metrics) + " |",
             "|---|---:|" + "---:|" * len(metrics)]
    for row in summary:
        cells = [f"{_format(row[f'{m}_mean'])} ± {_format(row[f'{m}_std'])}" for m in metrics]
        lines.append(f"| {row['variant']} | {row['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _write_csv(path: str, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def write_tables(rows: Sequence[Mapping[str, Any]], workdir: str,
                 metrics: Sequence[str] | None = None,
                 order: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Writes results.csv, summary.csv, summary.md and summary.png; returns the summary rows."""
    os.makedirs(workdir, exist_ok=True)
    metrics = list(metrics or _metric_names(rows))
    all_metrics = metrics + [m for m in _metric_names(rows) if m not in metrics]
    _write_csv(os.path.join(workdir, "results.csv"), rows,
               ["variant", "seed", "step", *all_metrics])
    summary = aggregate(rows, metrics, order)
    _write_csv(os.path.join(workdir, "summary.csv"), summary,
               ["variant", "n", *itertools.chain.from_iterable(
                   (f"{m}_mean", f"{m}_std") for m in metrics)])
    with open(os.path.join(workdir, "summary.md"), "w") as f:
        f.write(markdown_table(summary, metrics))
    if summary:
        plot_summary(rows, summary, metrics, os.path.join(workdir, "summary.png"))
    return summary


def plot_summary(rows, summary, metrics: Sequence[str], path: str) -> None:
    """One horizontal bar chart per metric: mean +- std per variant, each seed a dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = [s["variant"] for s in summary]
    y = np.arange(len(variants))
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics) + 1.5,
                                                       0.3 * len(variants) + 1.2),
                             sharey=True, squeeze=False)
    for ax, m in zip(axes[0], metrics, strict=True):
        means = np.asarray([s[f"{m}_mean"] for s in summary])
        stds = np.asarray([s[f"{m}_std"] for s in summary])
        ax.barh(y, np.nan_to_num(means), xerr=stds, color="#9ecae1", ecolor="#333333",
                capsize=2)
        for i, variant in enumerate(variants):
            seeds = [r.get(m, math.nan) for r in rows if r["variant"] == variant]
            ax.plot(seeds, np.full(len(seeds), float(i)), "k.", markersize=3)
        ax.set_title(m)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(y, variants)
    axes[0][0].invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gan_jax.sweep",
        description="Run an ablation sweep (base config x variants x seeds) and tabulate it.")
    parser.add_argument("--sweep", required=True,
                        help="sweep file defining get_sweep(), e.g. "
                             "experiments/sweeps/losses_ring8.py")
    parser.add_argument("--workdir", required=True, help="directory of the runs and tables")
    parser.add_argument("--parallel", type=int, default=1,
                        help="--backend local: runs at a time (processes)")
    parser.add_argument("--backend", choices=BACKENDS, default="local",
                        help="where the runs train: this machine's processes (local), vmapped "
                             "groups in one process (vmap), SLURM jobs through submitit "
                             "(slurm), Ray tasks (ray)")
    cluster_flags = parser.add_argument_group(
        "slurm and ray", "resources per run; a flag overrides the sweep file's slurm or ray "
                         "dict")
    cluster_flags.add_argument("--cpus", type=float, help="CPUs per run (default 1; ray: "
                                                          "fractions allowed)")
    cluster_flags.add_argument("--gpus", type=float, help="GPUs per run (default 0; ray: "
                                                          "fractions allowed)")
    cluster_flags.add_argument("--partition", help="slurm: partition")
    cluster_flags.add_argument("--time", help="slurm: time limit per job, minutes or "
                                              "[D-]H:MM:SS (default 60)")
    cluster_flags.add_argument("--mem", help="slurm: memory per job, e.g. 16G")
    cluster_flags.add_argument("--slurm_array", action="store_true", default=None,
                               help="slurm: one job array instead of one job per run")
    cluster_flags.add_argument("--submitit_cluster", choices=("slurm", "local"),
                               help="slurm: 'local' runs the same jobs as processes of this "
                                    "machine (submitit's LocalExecutor)")
    cluster_flags.add_argument("--ray_address", help="ray: address of a running cluster "
                                                     "(default: start a local one)")
    cluster_flags.add_argument("--max_retries", type=int,
                               help="ray: retries of a run whose worker died (default 3); "
                                    "slurm: requeues after a time limit (default 3)")
    args = parser.parse_args(argv)
    if args.backend == "vmap":
        from gan_jax import sweep_vmap

        sweep_vmap.use_cpu_cores()  # before JAX starts: one CPU device per core
    host.quiet_tensorflow()
    host.retain_freed_memory()
    from gan_jax import cluster
    from gan_jax.configs import ConfigError

    workdir = os.path.abspath(args.workdir)
    options = None
    try:
        if args.backend != "local" and args.parallel != 1:
            raise ValueError(f"--parallel applies to --backend local, not {args.backend}")
        for flag, backends in (("cpus", "slurm ray"), ("gpus", "slurm ray"),
                               ("max_retries", "slurm ray"), ("partition", "slurm"),
                               ("time", "slurm"), ("mem", "slurm"), ("slurm_array", "slurm"),
                               ("submitit_cluster", "slurm"), ("ray_address", "ray")):
            if getattr(args, flag) is not None and args.backend not in backends.split():
                raise ValueError(f"--{flag} applies to --backend {' or '.join(backends.split())}"
                                 f", not {args.backend}")
        cluster.require(args.backend)
        sweep = _runs().load_python_file(args.sweep, "get_sweep")
        variants_of(sweep)
        if args.backend == "slurm":
            options = cluster.slurm_options(sweep, {
                "partition": args.partition, "time": args.time, "gpus": args.gpus,
                "cpus": args.cpus, "mem": args.mem, "array": args.slurm_array,
                "cluster": args.submitit_cluster, "max_num_timeout": args.max_retries},
                workdir)
        elif args.backend == "ray":
            options = cluster.ray_options(sweep, {
                "address": args.ray_address, "num_cpus": args.cpus, "num_gpus": args.gpus,
                "max_retries": args.max_retries})
    except (OSError, ValueError, ConfigError) as e:
        print(f"gan-jax sweep: error: {e}", file=sys.stderr)
        return 2
    try:
        rows = run_sweep(sweep, workdir, args.parallel, backend=args.backend, options=options)
    except SweepStopped as e:
        print(f"gan-jax sweep: {e}", file=sys.stderr)
        return 1
    print(f"tables: {os.path.join(workdir, 'summary.md')}, summary.csv, results.csv; "
          f"plot: {os.path.join(workdir, 'summary.png')}")
    with open(os.path.join(workdir, "summary.md")) as f:
        print(f.read(), end="")
    return 0 if len(rows) == len(plan(sweep, workdir)) else 1


if __name__ == "__main__":
    sys.exit(main())
