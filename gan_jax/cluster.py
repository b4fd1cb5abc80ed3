"""Runs of a sweep on a SLURM cluster (through submitit) or a Ray cluster, and their options.

Both are optional extras (``pip install -e '.[slurm]'``, ``'.[ray]'``), imported only here and
only when a backend needs them; :func:`require` turns a missing one into one error line.

SLURM (:func:`run_slurm`): each run is one job (or one task of a job array) running
:class:`SweepJob`, a pickled callable that trains the run into its workdir with
``gan_jax.sweep_runs.run_one``, exactly as the local backend does, and returns its record. The
sweep command waits for the jobs and reports each as it ends. Preemption and time limits go
through submitit's checkpoint hook: SLURM sends ``SIGUSR2`` before it stops a job (submitit
asks for it ``signal_delay_s`` before the time limit); :class:`Notice` turns that into
gan_jax's SIGTERM path (training finishes its step, writes a checkpoint and returns), then
hands over to submitit, which calls :meth:`SweepJob.checkpoint` (the same call again) and
requeues the job. The requeued job resumes from that checkpoint, bit for bit as any resumed
run does. A plain SIGTERM (``scancel``) saves the same way but is not requeued: the run is
reported stopped and the next sweep command resumes it.

Ray (:func:`run_ray`): each run is one Ray task with its resource request (``num_cpus``,
``num_gpus``) on the cluster at ``address``, else on the Ray already running on this machine or
a local one started here. A task whose worker
process dies (killed, out of memory, node lost) is retried up to ``max_retries`` times; the
retry resumes from the run's newest checkpoint. A run that raises is not retried: it is
reported failed with its log path.

The workdir must be on a filesystem that every node of the cluster sees.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import re
import signal
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gan_jax import host

EXTRAS = {"slurm": ("submitit", "submitit", "slurm"), "ray": ("ray", "Ray", "ray")}


def require(backend: str) -> None:
    """Raises ValueError naming the pip command where ``backend``'s optional extra is missing."""
    if backend not in EXTRAS:
        return
    module, name, extra = EXTRAS[backend]
    if importlib.util.find_spec(module) is None:
        raise ValueError(f"--backend {backend} needs {name}: pip install -e '.[{extra}]'")


def parse_minutes(value: Any) -> int:
    """SLURM's time limit as whole minutes: ``90`` (minutes), ``"1:30:00"``, ``"2-00:00:00"``."""
    text = str(value).strip()
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if match is None or isinstance(value, bool):
        raise ValueError(f"time limit {value!r} is not minutes or [D-]H:MM:SS, e.g. 90 or "
                         "'1:30:00'")
    days, first, second, third = match.groups()
    if second is None and days is None:
        minutes = float(first)
    elif third is None:  # H:MM (with days) or MM:SS, as sbatch reads them
        minutes = (float(first) * 60 + float(second)) if days else float(first) + float(
            second or 0) / 60
    else:
        minutes = float(first) * 60 + float(second) + float(third) / 60
    minutes += 24 * 60 * float(days or 0)
    if minutes <= 0:
        raise ValueError(f"time limit {value!r} must be positive")
    return math.ceil(minutes)


def parse_mem_gb(value: Any) -> float:
    """Memory per job in GB: ``16`` (GB), ``"16G"``, ``"16000M"``, ``"1T"``."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([MGT]?)B?", str(value).strip(), re.IGNORECASE)
    if match is None or isinstance(value, bool):
        raise ValueError(f"memory {value!r} is not a size such as 16G or 16000M")
    scale = {"": 1.0, "M": 1 / 1024, "G": 1.0, "T": 1024.0}[match.group(2).upper()]
    return float(match.group(1)) * scale


@dataclasses.dataclass
class SlurmOptions:
    """Where and how the jobs of a sweep run on SLURM (sweep file key ``slurm``, or flags)."""

    folder: str                    # submitit's pickles and job logs
    cluster: str = "slurm"         # "local": submitit's LocalExecutor, the jobs as local processes
    partition: str | None = None
    time: int = 60                 # minutes per job
    gpus: int = 0                  # per job
    cpus: int = 1                  # per job
    mem: float | None = None       # GB per job; None: the partition's default
    array: bool = False            # one job array instead of one job per run
    array_parallelism: int = 256   # array tasks running at once
    max_num_timeout: int = 3       # requeues after a time limit before the run is failed
    submitit: dict[str, Any] = dataclasses.field(default_factory=dict)  # any other parameter

    def executor_parameters(self) -> dict[str, Any]:
        params = {"name": "gan_jax_sweep", "timeout_min": self.time, "nodes": 1,
                  "tasks_per_node": 1, "cpus_per_task": self.cpus,
                  "slurm_array_parallelism": self.array_parallelism}
        if self.gpus or self.cluster == "local":  # local: 0 hides the GPUs from the jobs
            params["gpus_per_node"] = self.gpus
        if self.partition:
            params["slurm_partition"] = self.partition
        if self.mem is not None:
            params["mem_gb"] = self.mem
        return {**params, **self.submitit}


@dataclasses.dataclass
class RayOptions:
    """Where and how the runs of a sweep run on Ray (sweep file key ``ray``, or flags)."""

    address: str | None = None     # None: a local Ray started by the sweep
    num_cpus: float = 1            # per run
    num_gpus: float = 0            # per run
    max_retries: int = 3           # retries of a run whose worker process died


_SLURM_KEYS = {"cluster", "partition", "time", "gpus", "cpus", "mem", "array",
               "array_parallelism", "max_num_timeout", "submitit", "folder"}
_RAY_KEYS = {"address", "num_cpus", "num_gpus", "max_retries"}


def _check_keys(section: str, given: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} in the sweep file's {section!r} entry; "
                         f"allowed: {', '.join(sorted(allowed))}")


def slurm_options(spec: Mapping[str, Any], flags: Mapping[str, Any],
                  workdir: str) -> SlurmOptions:
    """The sweep file's ``slurm`` dict, then the flags that were given (not None) over it."""
    given = dict(spec.get("slurm") or {})
    _check_keys("slurm", given, _SLURM_KEYS)
    given.update({k: v for k, v in flags.items() if v is not None})
    options = SlurmOptions(folder=os.path.join(workdir, "slurm"))
    for key, value in given.items():
        setattr(options, key, value)
    if options.cluster not in ("slurm", "local"):
        raise ValueError(f"unknown submitit cluster {options.cluster!r}; allowed: slurm "
                         "(sbatch) or local (the jobs as processes of this machine)")
    options.time = parse_minutes(options.time)
    options.mem = None if options.mem is None else parse_mem_gb(options.mem)
    for key in ("gpus", "cpus", "array_parallelism", "max_num_timeout"):
        value = getattr(options, key)
        if isinstance(value, float) and value.is_integer():  # --gpus 1 is read as 1.0
            value = int(value)
            setattr(options, key, value)
        if isinstance(value, bool) or not isinstance(value, int) or value < (
                0 if key in ("gpus", "max_num_timeout") else 1):
            raise ValueError(f"slurm {key} must be a whole number"
                             f"{' >= 0' if key in ('gpus', 'max_num_timeout') else ' >= 1'}, "
                             f"not {value!r}")
    if not isinstance(options.submitit, Mapping):
        raise ValueError("the sweep file's slurm 'submitit' entry must be a dict of submitit "
                         "parameters, e.g. {'slurm_account': 'lab'}")
    if options.cluster == "slurm" and _which("sbatch") is None:
        raise ValueError("--backend slurm needs SLURM's sbatch on PATH (run the sweep on a "
                         "login node); --submitit_cluster local runs the same jobs as local "
                         "processes")
    return options


def ray_options(spec: Mapping[str, Any], flags: Mapping[str, Any]) -> RayOptions:
    """The sweep file's ``ray`` dict, then the flags that were given (not None) over it."""
    given = dict(spec.get("ray") or {})
    _check_keys("ray", given, _RAY_KEYS)
    given.update({k: v for k, v in flags.items() if v is not None})
    options = RayOptions(**given)
    for key in ("num_cpus", "num_gpus", "max_retries"):
        value = getattr(options, key)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"ray {key} must be a number >= 0, not {value!r}")
    return options


def _which(program: str) -> str | None:
    import shutil

    return shutil.which(program)


def _job_process_setup() -> None:
    """What a job process sets before JAX or TensorFlow start (as the local pool's workers)."""
    host.quiet_tensorflow()
    host.retain_freed_memory()


# ----------------------------------------------------------------------------------------
# SLURM through submitit


class Notice:
    """Context manager inside a submitit job: SLURM's stop notice (``SIGUSR2``) stops training
    through gan_jax's SIGTERM path; :meth:`requeue` then hands over to submitit.

    While training runs, its SIGTERM handler (gan_jax/preemption.py) is installed: the notice
    raises SIGTERM, so the step in progress finishes, a checkpoint is written and training
    returns; the caller then calls :meth:`requeue`, which runs submitit's own handler (the
    callable's ``checkpoint()``, the requeue, the exit). Outside training (starting up, or
    after it) nothing is lost by requeueing at once, and submitit's handler runs directly. Set
    ``sigterm_always`` once ``jax.distributed`` is initialised in several processes: its
    preemption service catches SIGTERM in C++ (Python's handlers no longer tell whether
    training watches), and from then on the notice always raises SIGTERM.
    """

    def __init__(self, sigterm_always: bool = False):
        self.sigterm_always = sigterm_always
        self.received = False

    def __enter__(self) -> Notice:
        from submitit.core.job_environment import JobEnvironment

        self.signum = JobEnvironment._usr_sig()
        self._submitit_handler = signal.getsignal(self.signum)
        self._idle_sigterm = signal.getsignal(signal.SIGTERM)  # submitit's: log and go on
        signal.signal(self.signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(self.signum, self._submitit_handler)

    def _handle(self, signum, frame) -> None:
        self.received = True
        if self.sigterm_always or signal.getsignal(signal.SIGTERM) != self._idle_sigterm:
            signal.raise_signal(signal.SIGTERM)  # training is watching: save, then return
        else:
            self.requeue()

    def requeue(self) -> None:
        """submitit's handling of the notice: checkpoint(), requeue and exit (rank 0 only;
        other ranks return)."""
        if callable(self._submitit_handler):
            self._submitit_handler(self.signum, None)


class Resubmittable:
    """submitit's checkpoint hook, as ``submitit.helpers.Checkpointable`` defines it (the same
    call again), without importing submitit where the class is only pickled or defined:
    submitit requeues a job whose callable has ``checkpoint()``."""

    def checkpoint(self, *args, **kwargs):
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)


class SweepJob(Resubmittable):
    """The callable a SLURM job of a sweep runs: one run, ``(record, "")`` or ``(None, error)``.

    After a notice submitit requeues it with the same arguments (the run resumes from its
    checkpoint). A run stopped by a plain SIGTERM raises ``RunStopped``.
    """

    def __call__(self, config_path: str, overrides: dict[str, Any], run_workdir: str):
        _job_process_setup()
        from gan_jax import sweep_runs
        from gan_jax.errors import one_line

        with Notice() as notice:
            try:
                return sweep_runs.run_one(config_path, overrides, run_workdir), ""
            except sweep_runs.RunStopped:
                if notice.received:
                    notice.requeue()  # exits the process once the job is requeued
                raise
            except Exception as e:  # noqa: BLE001  (the run failed: reported by name)
                return None, one_line(e, 300)


def _job_error(job) -> str:
    """One line for a job that ended without a record: the exception's last line, or how it
    ended, and the path of submitit's log of the job."""
    from submitit.core.utils import FailedJobError, UncompletedJobError

    try:
        job.result()
        text = "the job returned nothing"
    except FailedJobError as e:
        lines = [line for line in str(e).splitlines() if line.strip()]
        exception = next((line.strip() for line in reversed(lines)
                          if re.match(r"^[\w.]+(Error|Exception|Stopped|Interrupt)\b", line)),
                         lines[-1].strip() if lines else "failed")
        text = exception.removeprefix("gan_jax.sweep_runs.")
    except UncompletedJobError:
        text = f"the job ended without a result (state {job.state})"
    return f"job {job.job_id}: {text}; job log {job.paths.stderr}"


def run_slurm(config_path: str, todo: Sequence[Mapping[str, Any]],
              report: Callable[..., None], log: Callable[[str], None],
              options: SlurmOptions) -> None:
    """Submits one job per run of ``todo`` (or one job array) and reports each as it ends."""
    import submitit

    executor = submitit.AutoExecutor(folder=options.folder, cluster=options.cluster,
                                     slurm_max_num_timeout=options.max_num_timeout)
    executor.update_parameters(**options.executor_parameters())
    args = [(config_path, dict(run["overrides"]), run["workdir"]) for run in todo]
    if options.array:
        with executor.batch():
            jobs = [executor.submit(SweepJob(), *a) for a in args]
    else:
        jobs = [executor.submit(SweepJob(), *a) for a in args]
    runs = {job.job_id: run for job, run in zip(jobs, todo, strict=True)}
    kind = "SLURM" if options.cluster == "slurm" else "local submitit"
    log(f"sweep: submitted {len(jobs)} {kind} jobs ({', '.join(runs)}); their logs in "
        f"{options.folder}")
    poll = 1.0 if options.cluster == "local" else 15.0
    for i, job in enumerate(submitit.helpers.as_completed(jobs, poll_frequency=poll), 1):
        run = runs[job.job_id]
        try:
            record, error = job.result()
        except Exception:  # noqa: BLE001  (failed, killed or stopped: reported by name)
            record, error = None, _job_error(job)
        report(i, run, record, error)


# ----------------------------------------------------------------------------------------
# Ray


def gan_jax_run(config_path: str, overrides: dict[str, Any], run_workdir: str):
    """The Ray task of one run: ``(record, "")``, or ``(None, error)`` for a run that failed."""
    _job_process_setup()
    from gan_jax import sweep_runs

    return sweep_runs.run_safely(config_path, overrides, run_workdir)


def run_ray(config_path: str, todo: Sequence[Mapping[str, Any]],
            report: Callable[..., None], log: Callable[[str], None],
            options: RayOptions) -> None:
    """Runs each run of ``todo`` as a Ray task and reports each as it ends."""
    import ray

    if not ray.is_initialized():
        ray.init(address=options.address, include_dashboard=False, log_to_driver=False)
    resources = ray.cluster_resources()
    log(f"sweep: Ray cluster with {resources.get('CPU', 0):g} CPUs and "
        f"{resources.get('GPU', 0):g} GPUs; each run asks for {options.num_cpus:g} CPUs and "
        f"{options.num_gpus:g} GPUs, retried up to {options.max_retries} times if its worker "
        "dies")
    task = ray.remote(num_cpus=options.num_cpus, num_gpus=options.num_gpus,
                      max_retries=options.max_retries, retry_exceptions=False)(gan_jax_run)
    pending = {}
    for run in todo:
        name = f"gan_jax {run['variant']} seed {run['seed']}"
        ref = task.options(name=name).remote(config_path, dict(run["overrides"]),
                                             run["workdir"])
        pending[ref] = run
    i = 0
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        run = pending.pop(done[0])
        i += 1
        try:
            record, error = ray.get(done[0])
        except Exception as e:  # noqa: BLE001  (stopped or its worker died too often)
            from gan_jax.errors import one_line

            cause = getattr(e, "cause", None) or e
            record, error = None, one_line(cause, 300)
        report(i, run, record, error)
