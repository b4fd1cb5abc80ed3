"""The training command line: the only module that defines flags.

    python -m gan_jax.main --config experiments/configs/ring8.py --workdir /tmp/ring8
    gan-jax --config experiments/configs/default.py --workdir /tmp/default \
        --config.num_steps=2000 --config.loss=minimax

(:mod:`gan_jax.main` is the console script; it hands every command line that is not a
subcommand to :func:`main` here, and ``gan-jax launch`` parses the training arguments it
submits with the same flags.)
``--config`` is an ml_collections config file (``path.py`` or ``path.py:arg``);
any field can be overridden with ``--config.<field>=<value>``. A command line error (a
config file that cannot be loaded, an override of a field the config does not have, a value
of the wrong type, an unknown flag) is one line, ``gan-jax: error: ...``, and exit status 2,
like every other config error. Rerunning the
same command on the same workdir resumes from its newest checkpoint; SIGTERM or
Ctrl-C saves a checkpoint and exits 0. ``--restart`` starts over in a workdir that
holds an earlier run, moving that run's outputs to ``workdir/previous_runs/``.

Multi-process runs: set JAX_COORDINATOR_ADDRESS (host:port), JAX_NUM_PROCESSES
and JAX_PROCESS_ID in each process's environment and start the same command;
``jax.distributed`` is initialised from them before anything else touches JAX. Under SLURM
(``srun`` with several tasks, or ``gan-jax launch``, gan_jax/launch.py) nothing needs to be set:
JAX reads the task's SLURM variables.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from typing import NoReturn

import ml_collections
from absl import app, flags, logging
from ml_collections import config_flags
from ml_collections.config_flags import config_path

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", None, "Experiment config file (ml_collections), e.g. experiments/configs/ring8.py.",
    lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics, logs and samples.")
flags.DEFINE_bool("restart", False, "Start over in a workdir that holds an earlier run; its "
                  "outputs are moved to workdir/previous_runs/, not deleted.")
flags.mark_flags_as_required(["config", "workdir"])


def _slurm_tasks() -> int:
    """The number of tasks of the SLURM job step this process runs in (0 outside one): the
    variables JAX's SLURM detection reads are all set only inside ``srun``'s tasks."""
    names = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID",
             "SLURM_LOCALID")
    return int(os.environ["SLURM_NTASKS"]) if all(n in os.environ for n in names) else 0


def _initialize_distributed() -> None:
    address = os.environ.get("JAX_COORDINATOR_ADDRESS")
    if not address:
        if _slurm_tasks() > 1:
            import jax

            jax.distributed.initialize()  # coordinator, process count and id from SLURM
        return
    import jax

    jax.distributed.initialize(
        coordinator_address=address,
        num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
        process_id=int(os.environ["JAX_PROCESS_ID"]),
    )


class CommandLineError(flags.Error):
    """The command line names a config that cannot be loaded or a field it does not have; the
    message is one line."""


# ml_collections' own test for an override argument: --config.a.b=1, --noconfig.flag.
_OVERRIDE = re.compile(r"-{1,2}(?:no)?config\.")
_CONFIG = re.compile(r"-{1,2}config(?:=(.*))?", re.DOTALL)


def load_config(argument: str) -> ml_collections.ConfigDict:
    """The ConfigDict of ``--config`` ``argument`` (``path.py`` or ``path.py:arg``); raises
    CommandLineError (one line) where it cannot be loaded (see ``gan_jax.runs.load_config``)."""
    from gan_jax import runs
    from gan_jax.errors import ConfigError

    try:
        return runs.load_config(argument)
    except ConfigError as e:
        raise CommandLineError(str(e)) from None


def field_paths(config: ml_collections.ConfigDict, prefix: str = "config") -> list[str]:
    """Every field of ``config`` as a dotted path, groups included: ``config.optim``,
    ``config.optim.d``, ``config.optim.d.lr``, ..."""
    paths = []
    for key, value in config.items():
        paths.append(f"{prefix}.{key}")
        if isinstance(value, ml_collections.ConfigDict):
            paths.extend(field_paths(value, f"{prefix}.{key}"))
    return paths


def check_overrides(config: ml_collections.ConfigDict, argv: list[str]) -> None:
    """Raises CommandLineError for the first ``--config.<field>`` of ``argv`` that names no
    field of ``config``, suggesting the closest field paths."""
    for arg in argv[1:]:
        if not _OVERRIDE.match(arg):
            continue
        field = arg.split("=", 1)[0].split(".", 1)[1]
        problem = _field_problem(config, field)
        if problem is None:
            continue
        if problem.startswith("unknown field"):
            close = difflib.get_close_matches(f"config.{field}", field_paths(config), n=3)
            if close:
                listed = ", ".join(close[:-1]) + (" or " if len(close) > 1 else "") + close[-1]
                problem += f"; did you mean {listed}?"
        raise CommandLineError(problem)


def _field_problem(config: ml_collections.ConfigDict, field: str) -> str | None:
    """Why override ``field`` (``optim.d.lr``) names no field of ``config``; None where it
    names one."""
    unknown = f"unknown field config.{field}"
    try:
        parts = config_path.split(field)
    except ValueError:
        return unknown
    node, walked = config, "config"
    for part in parts:
        if not isinstance(part, str):
            return (f"config.{field} is not a field: an override sets a whole field, here "
                    f"--config.{walked.removeprefix('config.')}=...")
        if not isinstance(node, ml_collections.ConfigDict):
            held = repr(node)
            held = held if len(held) <= 40 else held[:37] + "..."
            return f"{unknown}: {walked} holds {held}, not a group of fields"
        if part not in node:
            if not node.keys() and walked != "config":
                # A group whose entries are free names (config.regularizers): set it whole.
                value = field.split("=", 1)[0].rsplit(".", 1)[-1]
                return (f"config.{field} is not a field: {walked} is set as a whole, e.g. "
                        f"--{walked}='{{\"{value}\": 1.0}}'")
            return unknown
        node, walked = node[part], f"{walked}.{part}"
    return None


def _config_argument(argv: list[str]) -> str | None:
    """The value of ``--config`` in ``argv`` as absl reads it: the last one before ``--``."""
    value = None
    args = iter(argv[1:])
    for arg in args:
        if arg == "--":
            break
        match = _CONFIG.fullmatch(arg)
        if match:
            value = match.group(1) if "=" in arg else next(args, None)
    return value


def _fail(message: str, status: int) -> NoReturn:
    print(f"gan-jax: error: {message}", file=sys.stderr)
    sys.exit(status)


def _parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing for ``app.run``, with each error as one ``gan-jax: error:`` line and
    exit status 2.

    ml_collections loads the config file and applies the ``--config.*`` overrides while absl
    parses the flags. It keeps a missing file's error until ``FLAGS.config`` is first read,
    lets a file without ``get_config`` or with a syntax error end in a traceback, and answers
    an override of a field the config does not have with a bare AttributeError or KeyError
    traceback; so the file and the override paths are checked here first. Values of the wrong
    type, a missing required flag and unknown flags then come from absl as ``flags.Error``.
    """
    try:
        argv_expanded = FLAGS.read_flags_from_files(argv, force_gnu=False)
        argument = _config_argument(argv_expanded)
        if argument is not None:
            # ml_collections runs the file again below; a config file only builds a ConfigDict.
            check_overrides(load_config(argument), argv_expanded)
        return FLAGS(argv)
    except flags.Error as e:
        _fail(" ".join(str(e).split()), 2)


def main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    _initialize_distributed()
    from gan_jax.checkpointing import CheckpointError
    from gan_jax.configs import ConfigError
    from gan_jax.train import DivergenceError, train_and_evaluate

    logging.set_verbosity(logging.WARNING)
    try:
        train_and_evaluate(FLAGS.config, FLAGS.workdir, restart=FLAGS.restart)
    except ConfigError as e:
        _fail(str(e), 2)
    except (CheckpointError, DivergenceError) as e:
        _fail(str(e), 1)
