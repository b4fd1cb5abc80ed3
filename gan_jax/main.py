"""Command line entry point: the only module that defines flags.

    python -m gan_jax.main --config experiments/configs/ring8.py --workdir /tmp/ring8
    gan-jax --config experiments/configs/default.py --workdir /tmp/default \
        --config.num_steps=2000 --config.loss=minimax

    gan-jax data prepare mnist            # see gan_jax/data/prepare.py
    gan-jax eval --workdir /tmp/default [--checkpoint latest|best|STEP]   # gan_jax/eval/cli.py
    gan-jax sample --workdir /tmp/default --num 64 --out /tmp/samples
    gan-jax features train mnist5k        # see gan_jax/eval/feature_net.py

``--config`` is an ml_collections config file (``path.py`` or ``path.py:arg``);
any field can be overridden with ``--config.<field>=<value>``. Rerunning the
same command on the same workdir resumes from its newest checkpoint; SIGTERM or
Ctrl-C saves a checkpoint and exits 0. ``--restart`` starts over in a workdir that
holds an earlier run, moving that run's outputs to ``workdir/previous_runs/``.

Multi-process runs: set JAX_COORDINATOR_ADDRESS (host:port), JAX_NUM_PROCESSES
and JAX_PROCESS_ID in each process's environment and start the same command;
``jax.distributed`` is initialised from them before anything else touches JAX.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from gan_jax import host

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", None, "Experiment config file (ml_collections), e.g. experiments/configs/ring8.py.",
    lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics, logs and samples.")
flags.DEFINE_bool("restart", False, "Start over in a workdir that holds an earlier run; its "
                  "outputs are moved to workdir/previous_runs/, not deleted.")
flags.mark_flags_as_required(["config", "workdir"])


def _initialize_distributed() -> None:
    address = os.environ.get("JAX_COORDINATOR_ADDRESS")
    if not address:
        return
    import jax

    jax.distributed.initialize(
        coordinator_address=address,
        num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
        process_id=int(os.environ["JAX_PROCESS_ID"]),
    )


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
        print(f"gan-jax: error: {e}", file=sys.stderr)
        sys.exit(2)
    except (CheckpointError, DivergenceError) as e:
        print(f"gan-jax: error: {e}", file=sys.stderr)
        sys.exit(1)


def run() -> None:
    """Console script ``gan-jax``: training, or the commands ``data prepare``, ``eval``,
    ``sample`` and ``features train``."""
    host.retain_freed_memory()
    if sys.argv[1:3] == ["data", "prepare"]:
        from gan_jax.data import prepare

        sys.exit(prepare.main(sys.argv[3:]))
    if sys.argv[1:2] in (["eval"], ["sample"]):
        from gan_jax.eval import cli

        sys.exit(cli.main(sys.argv[1:]))
    if sys.argv[1:2] == ["features"]:
        from gan_jax.eval import feature_net

        sys.exit(feature_net.main(sys.argv[2:]))
    app.run(main)


if __name__ == "__main__":
    run()
