"""Command line entry point: the console script ``gan-jax`` and ``python -m gan_jax.main``.

    python -m gan_jax.main --config experiments/configs/ring8.py --workdir /tmp/ring8
    gan-jax --config experiments/configs/default.py --workdir /tmp/default \
        --config.num_steps=2000 --config.loss=minimax

    gan-jax data prepare mnist            # see gan_jax/data/prepare.py
    gan-jax eval --workdir /tmp/default [--checkpoint latest|best|STEP]   # gan_jax/eval/cli.py
    gan-jax sample --workdir /tmp/default --num 64 --out /tmp/samples
    gan-jax features train mnist5k        # see gan_jax/eval/feature_net.py
    gan-jax features prepare inception    # see gan_jax/eval/inception_weights.py
    gan-jax launch --backend slurm --nodes 2 --gpus_per_node 4 -- --config ... --workdir ...

Anything that is not a subcommand is a training command line (:mod:`gan_jax.train_cli`
defines its flags and says what they do).
"""

from __future__ import annotations

import sys

from absl import app

from gan_jax import host, train_cli


def run() -> None:
    """Console script ``gan-jax``: training, or the commands ``data prepare``, ``eval``,
    ``sample``, ``features train``, ``features prepare`` and ``launch``."""
    host.quiet_tensorflow()
    host.retain_freed_memory()
    if sys.argv[1:3] == ["data", "prepare"]:
        from gan_jax.data import prepare

        sys.exit(prepare.main(sys.argv[3:]))
    if sys.argv[1:2] in (["eval"], ["sample"]):
        from gan_jax.eval import cli

        sys.exit(cli.main(sys.argv[1:]))
    if sys.argv[1:3] == ["features", "prepare"]:
        from gan_jax.eval import inception_weights

        sys.exit(inception_weights.main(sys.argv[3:]))
    if sys.argv[1:2] == ["launch"]:
        from gan_jax import launch

        sys.exit(launch.main(sys.argv[2:]))
    if sys.argv[1:2] == ["features"]:
        from gan_jax.eval import feature_net

        sys.exit(feature_net.main(sys.argv[2:]))
    app.run(train_cli.main, flags_parser=train_cli._parse_flags)


if __name__ == "__main__":
    run()
