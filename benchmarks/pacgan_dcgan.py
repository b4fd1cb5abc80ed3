"""The Stacked MNIST DCGAN (``pacgan_dcgan``) with flax's layers and with gan_jax's forms.

    python benchmarks/pacgan_dcgan.py [--seconds 2] [--repeats 3] [--out BENCHMARKS.md]

The PacGAN / VEEGAN DCGAN runs 5x5 stride-2 (transposed) convolutions on small images with
many channels (2x2x512 up to 28x28x3 in G, the reverse in D). ``gan_jax/models/pacgan.py``
computes them in the forms of ``gan_jax/models/layers.py``; ``plain_layers=True`` builds the
same network from ``nn.ConvTranspose`` / ``nn.Conv`` (the tests hold the two equal). This
script times, alternating rounds in one process: each layer's forward and backward
(gradients w.r.t. parameters and input, batch 64), and the whole gan_jax train step of the
Stacked MNIST protocol (``experiments/paper/pacgan.py``: batch 64 packed examples, one D
and one G update) for GAN and PacGAN4, and writes a section of ``BENCHMARKS.md`` named after
the CPU's vector extensions.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import time

import flax.linen as nn
import jax

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import layers as layer_bench  # noqa: E402
import speed  # noqa: E402

from experiments.paper import pacgan as pacgan_paper  # noqa: E402
from gan_jax import runs, state as state_lib, steps  # noqa: E402
from gan_jax.models import pacgan  # noqa: E402

BATCH = 64


class _GLayer(nn.Module):
    features: int
    out_side: int
    first: bool
    plain: bool

    @nn.compact
    def __call__(self, x):
        return pacgan.transposed_conv(x, self.features, (self.out_side,) * 2, self.first,
                                      self.plain, jax.numpy.float32, "ConvTranspose_0")


class _DLayer(nn.Module):
    features: int
    plain: bool

    @nn.compact
    def __call__(self, x):
        return pacgan.strided_conv(x, self.features, self.plain, jax.numpy.float32, "Conv_0")


# (name, input shape, module factory taking plain); G's 4 -> 7 layer is the cropped one.
LAYERS = [
    ("G 2x2 -> 4x4, 512 -> 256", (2, 2, 512), lambda p: _GLayer(256, 4, True, p)),
    ("G 4x4 -> 7x7, 256 -> 128", (4, 4, 256), lambda p: _GLayer(128, 7, False, p)),
    ("G 7x7 -> 14x14, 128 -> 64", (7, 7, 128), lambda p: _GLayer(64, 14, False, p)),
    ("G 14x14 -> 28x28, 64 -> 3", (14, 14, 64), lambda p: _GLayer(3, 28, False, p)),
    ("D 28x28 -> 14x14, 3 -> 64", (28, 28, 3), lambda p: _DLayer(64, True)),
    ("D 14x14 -> 7x7, 64 -> 128", (14, 14, 64), lambda p: _DLayer(128, True)),
    ("D 7x7 -> 4x4, 128 -> 256", (7, 7, 128), lambda p: _DLayer(256, p)),
    ("D 4x4 -> 2x2, 256 -> 512", (4, 4, 256), lambda p: _DLayer(512, p)),
]


class _Step:
    """The jitted, sharded gan_jax train step of one Stacked MNIST config."""

    def __init__(self, pack: int, plain: bool):
        config = pacgan_paper.stacked_config(pack, 100)
        config.model.plain_layers = plain
        source, gan = runs.build(config)
        mesh = steps.make_mesh()
        self.state = jax.device_put(state_lib.init_state(gan, 0), steps.replicated(mesh))
        self.step = steps.parallelize(gan, mesh, config.batch_size)
        self.batches = source.batches(mesh, global_batch=config.batch_size, n_disc=1, seed=0)
        self.batch = next(self.batches)
        start = time.perf_counter()
        self.state, _ = self.step(self.state, self.batch)
        jax.block_until_ready(self.state)
        self.first_s = time.perf_counter() - start

    def run(self, n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            self.state, _ = self.step(self.state, self.batch)
        jax.block_until_ready(self.state)
        return time.perf_counter() - start


def _layer_case(factory, shape, plain: bool):
    layer = layer_bench.Layer("", "", shape, lambda: factory(plain), None)
    return layer_bench._JaxLayer(layer, BATCH)


def measure(seconds: float, repeats: int) -> dict:
    rows = []
    for name, shape, factory in LAYERS:
        plain_s, fast_s, ratio = layer_bench._alternate(
            _layer_case(factory, shape, True), _layer_case(factory, shape, False),
            seconds / 4, repeats)
        # _alternate's ratio is second / first per round: fast seconds / plain seconds.
        rows.append((name, 1e3 * plain_s, 1e3 * fast_s, 1.0 / ratio))
        print(f"  {name}: flax {1e3 * plain_s:.1f} ms, gan_jax {1e3 * fast_s:.1f} ms, "
              f"{1.0 / ratio:.2f}x", flush=True)
    step_rows = []
    for pack in (1, 4):
        plain, fast = _Step(pack, True), _Step(pack, False)
        n_p = max(2, int(seconds / plain.run(1)))
        n_f = max(2, int(seconds / fast.run(1)))
        tp, tf, ratios = [], [], []
        for _ in range(repeats):
            tp.append(plain.run(n_p) / n_p)
            tf.append(fast.run(n_f) / n_f)
            ratios.append(tp[-1] / tf[-1])
        step_rows.append((pack, statistics.median(tp), statistics.median(tf),
                          statistics.median(ratios), ratios))
        print(f"  step pack {pack}: flax {statistics.median(tp):.2f} s, gan_jax "
              f"{statistics.median(tf):.2f} s, {statistics.median(ratios):.2f}x", flush=True)
    return {"layers": rows, "steps": step_rows}


def write_section(result: dict, args, load) -> None:
    key, flags = speed._cpu_kind()
    start, end = f"<!-- pacgan-dcgan-{key}:start -->", f"<!-- pacgan-dcgan-{key}:end -->"
    lines = [
        start,
        f"## Stacked MNIST DCGAN: flax's layers against gan_jax's forms ({flags})",
        "",
        f"Generated by `python benchmarks/pacgan_dcgan.py --seconds {args.seconds:g} "
        f"--repeats {args.repeats}` on {datetime.date.today().isoformat()}. Machine: "
        f"{speed._machine()}. Load average {load[0][0]:.2f} at the start, {load[1][0]:.2f} "
        "at the end. Both columns are the same function with the same parameters "
        "(`tests/test_pack.py`); medians of alternating rounds in one process, and the "
        "median of the per-round ratios. D's first two layers are `nn.Conv` in both "
        "(PatchConv does not pay there): their rows show the noise of the measurement.",
        "",
        "| layer (forward + backward, batch 64) | flax ms | gan_jax ms | speed-up |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [f"| {n} | {p:.1f} | {f:.1f} | {r:.2f}x |" for n, p, f, r in result["layers"]]
    lines += [
        "",
        "| train step (one D and one G update, 64 packed examples) | flax s/step | "
        "gan_jax s/step | speed-up | per-round |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    lines += [f"| {pacgan_paper._label(pack).replace('GAN', 'DCGAN')} | {p:.2f} | {f:.2f} | "
              f"**{r:.2f}x** | {', '.join(f'{x:.2f}' for x in rs)} |"
              for pack, p, f, r, rs in result["steps"]]
    lines.append(end)
    speed.write_section(args.out, f"pacgan-dcgan-{key}", lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..",
                                                      "BENCHMARKS.md"))
    args = parser.parse_args()
    print(speed._machine(), flush=True)
    load_before = os.getloadavg()
    result = measure(args.seconds, args.repeats)
    write_section(result, args, (load_before, os.getloadavg()))


if __name__ == "__main__":
    main()
