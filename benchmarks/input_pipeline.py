"""Input pipeline throughput against the train step's consumption, side by side.

    python benchmarks/input_pipeline.py [--dataset mnist5k] [--batch 64] [--steps 50]

Times, in one run on the same machine, (a) how many train-step batches per
second the TFDS pipeline delivers as sharded device arrays and (b) how many
train steps per second the DCGAN step consumes. A ratio above 1 means the
pipeline is not the bottleneck. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import jax

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from gan_jax import data, state as state_lib, steps  # noqa: E402
from gan_jax.configs import base_config  # noqa: E402
from gan_jax.models import model_config  # noqa: E402


def _rate(iterator, n: int) -> float:
    next(iterator)  # warm-up: first batch, or compilation
    start = time.perf_counter()
    for _ in range(n):
        out = next(iterator)
    jax.block_until_ready(out)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--n_disc", type=int, default=1)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()

    config = base_config()
    config.data.name, config.data.split = args.dataset, "train"
    config.data.data_dir = args.data_dir or os.path.join(tempfile.gettempdir(), "tfds")
    config.model = model_config("dcgan", latent_dim=64)
    config.batch_size, config.n_disc = args.batch, args.n_disc
    source = data.get(config.data)
    mesh = steps.make_mesh()
    batches = source.batches(mesh, global_batch=args.batch, n_disc=args.n_disc, seed=0)
    pipeline_rate = _rate(batches, args.steps)

    gan = state_lib.make_gan(config, source.spec)
    state = jax.device_put(state_lib.init_state(gan, 0), steps.replicated(mesh))
    train_step = steps.parallelize(gan, mesh, args.batch)
    batch = next(batches)

    def run():
        nonlocal state
        while True:
            state, metrics = train_step(state, batch)
            yield metrics

    step_rate = _rate(run(), max(5, args.steps // 5))
    # Both at once, as in training: the pipeline feeding the step.
    def fed():
        nonlocal state
        for b in batches:
            state, metrics = train_step(state, b)
            yield metrics

    fed_rate = _rate(fed(), max(5, args.steps // 5))
    print("| dataset | batch x n_disc | pipeline batches/s | step/s (fixed batch) | "
          "step/s (fed by pipeline) | pipeline / step |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| {args.dataset} | {args.batch} x {args.n_disc} | {pipeline_rate:.1f} | "
          f"{step_rate:.2f} | {fed_rate:.2f} | {pipeline_rate / step_rate:.1f} |")
    print(f"\n{jax.device_count()} {jax.devices()[0].platform} device(s), "
          f"{os.cpu_count()} CPU cores, jax {jax.__version__}")


if __name__ == "__main__":
    main()
