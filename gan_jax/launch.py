"""``gan-jax launch``: one training run over several hosts, submitted to SLURM through submitit.

    gan-jax launch --backend slurm --nodes 2 --gpus_per_node 4 --partition gpu --time 4:00:00 \
        -- --config experiments/configs/mnist_dcgan.py --workdir /shared/runs/mnist

The arguments after ``--`` are those of a ``gan-jax`` training command; they are checked here
(config file, ``--config.*`` overrides, required flags, the config against the job's number
of devices and its data) before anything is submitted. The job
runs ``nodes x tasks_per_node`` processes, one per GPU (``tasks_per_node`` defaults to
``gpus_per_node``, or 1 on CPU nodes). Each process initialises ``jax.distributed`` from the
SLURM environment of its task: JAX's SLURM detection (``jax/_src/clusters/slurm_cluster.py``)
reads ``SLURM_JOB_ID``, ``SLURM_STEP_NODELIST``, ``SLURM_NTASKS``, ``SLURM_PROCID`` and
``SLURM_LOCALID``; the coordinator is the first host of the step's node list on a port derived
from the job id (``JAX_COORDINATOR_PORT`` overrides it), and on GPUs each process sees the GPU
of its ``SLURM_LOCALID``. The processes then train one run, the batch split over every device
of every host, exactly as ``gan-jax`` does with ``JAX_COORDINATOR_ADDRESS`` set by hand (see
gan_jax/train_cli.py).

Preemption and time limits: SLURM's notice (``SIGUSR2``, ``--time`` minus submitit's
``signal_delay_s``) becomes SIGTERM, which JAX's preemption service spreads to every process;
they save a checkpoint at the same step and stop, and submitit requeues the job, which resumes
from that checkpoint (``--restart`` is dropped from the requeued command).

The command prints the job id and the paths of its logs; training writes into ``--workdir`` as
usual. The workdir and the config file must be on a filesystem the nodes share.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence

from gan_jax import cluster

_RESTART = re.compile(r"-{1,2}(no)?restart(=.*)?")
_PATH_FLAG = re.compile(r"(-{1,2}(?:config|workdir))(?:=(.*))?", re.DOTALL)


def absolute_paths(argv: Sequence[str]) -> list[str]:
    """``argv`` with the paths of ``--config`` (before any ``:arg``) and ``--workdir`` made
    absolute, so the job's processes find them whatever their working directory."""
    out, args = [], iter(argv)
    for arg in args:
        match = _PATH_FLAG.fullmatch(arg)
        if arg == "--" or match is None:
            out.append(arg)
            continue
        flag, value = match.group(1), match.group(2)
        if value is None:
            value = next(args, None)
            if value is None:
                out.append(arg)
                break
        if flag.endswith("config"):
            path, colon, rest = value.partition(":")
            value = os.path.abspath(path) + colon + rest if os.path.exists(path) else value
        else:
            value = os.path.abspath(value)
        out.append(f"{flag}={value}")
    return out


def parse_training_flags(argv: Sequence[str]) -> None:
    """gan-jax's flag parsing of the training arguments ``argv`` (one error line and exit 2 if
    wrong). ml_collections finds the ``--config.*`` overrides in ``sys.argv``, so that holds
    the training command while the flags are parsed. A second call in one process (tests)
    parses afresh."""
    from gan_jax import train_cli

    for name in [n for n in train_cli.FLAGS if n.startswith("config.")]:
        delattr(train_cli.FLAGS, name)  # an earlier parse's override flags: defined again below
    saved, sys.argv = sys.argv, ["gan-jax", *argv]
    try:
        train_cli._parse_flags(sys.argv)
    finally:
        sys.argv = saved


class TrainingJob(cluster.Resubmittable):
    """What each task of the launched job runs: ``gan-jax <argv>`` in this process.

    Returns the step training reached. After SLURM's notice, the processes save together and
    submitit requeues the job with :meth:`checkpoint`: the same command, less ``--restart``.
    """

    def __init__(self, argv: Sequence[str]):
        self.argv = list(argv)

    def checkpoint(self, *args, **kwargs):
        resumed = TrainingJob([a for a in self.argv if not _RESTART.fullmatch(a)])
        return super(TrainingJob, resumed).checkpoint(*args, **kwargs)

    def __call__(self) -> int:
        cluster._job_process_setup()
        from gan_jax import train, train_cli

        parse_training_flags(self.argv)
        config = train_cli.FLAGS.config
        with cluster.Notice() as notice:
            train_cli._initialize_distributed()
            # From here JAX's preemption service catches SIGTERM in every process.
            notice.sigterm_always = train_cli._slurm_tasks() > 1
            state = train.train_and_evaluate(config, train_cli.FLAGS.workdir,
                                             restart=train_cli.FLAGS.restart)
            reached = int(state.step)
            if reached < config.num_steps and notice.received:
                notice.requeue()  # rank 0 exits here once the job is requeued
        return reached


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gan-jax launch",
        usage="gan-jax launch --backend slurm --nodes N --gpus_per_node G [options] -- "
              "<gan-jax training arguments>",
        description="Submit one training run over several hosts (jax.distributed from the "
                    "SLURM environment).")
    parser.add_argument("--backend", choices=("slurm",), required=True,
                        help="the engine that starts the processes")
    parser.add_argument("--nodes", type=int, default=1, help="hosts")
    parser.add_argument("--gpus_per_node", type=int, default=0, help="GPUs per host")
    parser.add_argument("--tasks_per_node", type=int,
                        help="processes per host (default: one per GPU, 1 without GPUs)")
    parser.add_argument("--cpus_per_task", type=int, default=None, help="CPUs per process")
    parser.add_argument("--partition", help="SLURM partition")
    parser.add_argument("--time", default="60", help="time limit, minutes or [D-]H:MM:SS "
                                                     "(default 60)")
    parser.add_argument("--mem", help="memory per host, e.g. 64G")
    parser.add_argument("--folder", help="submitit's folder of pickles and job logs "
                                         "(default: <workdir>/slurm)")
    parser.add_argument("--max_requeues", type=int, default=3,
                        help="requeues after a time limit (preemptions are always requeued)")
    parser.add_argument("--slurm", action="append", default=[], metavar="KEY=VALUE",
                        help="any other sbatch option as submitit's parameter, e.g. "
                             "--slurm account=lab --slurm qos=high (repeatable)")
    return parser


def main(argv: Sequence[str]) -> int:
    argv = list(argv)
    train_args = argv[argv.index("--") + 1:] if "--" in argv else []
    ours = argv[:argv.index("--")] if "--" in argv else argv
    parser = _parser()
    args = parser.parse_args(ours)

    def fail(message: str) -> int:
        print(f"gan-jax launch: error: {message}", file=sys.stderr)
        return 2

    try:
        cluster.require("slurm")
        if not train_args:
            raise ValueError("no training arguments: put them after '--', e.g. -- --config "
                             "experiments/configs/ring8.py --workdir /shared/runs/ring8")
        for name in ("nodes", "tasks_per_node", "cpus_per_task"):
            value = getattr(args, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name} must be at least 1, not {value}")
        if args.gpus_per_node < 0:
            raise ValueError(f"--gpus_per_node must be at least 0, not {args.gpus_per_node}")
        minutes = cluster.parse_minutes(args.time)
        mem = None if args.mem is None else cluster.parse_mem_gb(args.mem)
        extra = {}
        for item in args.slurm:
            key, eq, value = item.partition("=")
            if not eq or not key:
                raise ValueError(f"--slurm {item!r} is not KEY=VALUE, e.g. account=lab")
            extra[f"slurm_{key.removeprefix('slurm_')}"] = value
        if cluster._which("sbatch") is None:
            raise ValueError("--backend slurm needs SLURM's sbatch on PATH (run gan-jax "
                             "launch on a login node of the cluster)")
    except ValueError as e:
        return fail(str(e))

    from gan_jax import train_cli

    train_args = absolute_paths(train_args)
    parse_training_flags(train_args)
    workdir = os.path.abspath(train_cli.FLAGS.workdir)
    tasks = args.tasks_per_node or max(args.gpus_per_node, 1)
    from gan_jax import configs
    from gan_jax.errors import ConfigError, DataError

    try:  # one device per process, as JAX's SLURM detection sets it up
        configs.validate(train_cli.FLAGS.config, num_devices=args.nodes * tasks)
    except (ConfigError, DataError) as e:
        return fail(str(e))
    params = {"name": "gan_jax", "nodes": args.nodes, "tasks_per_node": tasks,
              "timeout_min": minutes, **extra}
    if args.gpus_per_node:
        params["gpus_per_node"] = args.gpus_per_node
    if args.cpus_per_task is not None:
        params["cpus_per_task"] = args.cpus_per_task
    if args.partition:
        params["slurm_partition"] = args.partition
    if mem is not None:
        params["mem_gb"] = mem

    import submitit

    folder = os.path.abspath(args.folder or os.path.join(workdir, "slurm"))
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm",
                                     slurm_max_num_timeout=args.max_requeues)
    executor.update_parameters(**params)
    job = executor.submit(TrainingJob(train_args))
    print(f"submitted SLURM job {job.job_id}: {args.nodes} nodes x {tasks} processes, "
          f"{args.gpus_per_node} GPUs per node")
    print(f"log of process 0: {job.paths.stdout} (stderr {job.paths.stderr}); others: "
          f"{folder}/{job.job_id}_<process>_log.out")
    print(f"training outputs: {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
