"""gan_jax's train step against a PyTorch eager reference of the same models, side by side.

    pip install -e .[bench]
    python benchmarks/speed.py            # a few minutes on 2 cores
    python benchmarks/speed.py --long     # longer measurements, less noise
    python benchmarks/speed.py --resnet   # the ResNet SNGAN-32 step and its layers alone

For each case (DCGAN 28x28x1 at batch 64 and 256, DCGAN 32x32x3 at batch 64,
the MLP toy at batch 512) the script builds gan_jax's jitted, sharded step and
the step of ``benchmarks/torch_reference.py`` with the same parameter counts,
then times them alternately (``--repeats`` rounds of JAX then PyTorch) and
reports the medians and the median of the per-round ratios, so that a change
of machine load hits both sides alike. ``--resnet`` times the SNGAN ResNet at 32x32x3
(``gan_jax/models/resnet.py``, 5.3M parameters) at batch 64 the same way, with a
per-layer breakdown of its residual blocks, and writes them to a section of
``BENCHMARKS.md`` named after the CPU's vector extensions (one section per kind of CPU;
the other sections stay). It also reports the JAX step's compile
time, its FLOPs per step (XLA's cost analysis of the compiled step), the
fraction of this machine's matmul rate the step reaches (a 2048x2048 float32
``jnp.dot`` timed in the same run), the compiled step's memory, and the input
pipeline's throughput against what the step consumes, then the per-layer breakdown
and compile-time split of ``benchmarks/layers.py`` and a "Why the remaining gap"
section generated from them, and the load average before and after. Writes the results to
``BENCHMARKS.md`` (``--out``); that file is generated, never edited by hand.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import layers as layer_bench  # noqa: E402
import torch  # noqa: E402
import torch_reference  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from gan_jax import data, host, state as state_lib, steps  # noqa: E402
from gan_jax.configs import base_config  # noqa: E402
from gan_jax.data import synthetic  # noqa: E402
from gan_jax.models import model_config  # noqa: E402

CASES = [
    # name, model, data shape, batch
    ("DCGAN 28x28x1", "dcgan", (28, 28, 1), 64),
    ("DCGAN 28x28x1", "dcgan", (28, 28, 1), 256),
    ("DCGAN 32x32x3", "dcgan", (32, 32, 3), 64),
    ("MLP toy (ring8)", "mlp", (2,), 512),
]


def _config(model: str, batch: int) -> ml_collections.ConfigDict:
    c = base_config()
    c.batch_size = batch
    if model == "dcgan":
        c.model = model_config("dcgan", latent_dim=64)
        c.optim.g.lr = c.optim.d.lr = 2e-4
    elif model == "resnet":  # SNGAN's CIFAR-10 widths
        c.model = model_config("resnet", latent_dim=128, g_ch=256, d_ch=128)
        c.optim.g.lr = c.optim.d.lr = 2e-4
    else:  # ring8's sizes
        c.model = model_config("mlp", latent_dim=2, hidden=128, depth=3)
        c.optim.g.lr = c.optim.d.lr = 1e-3
    return c


class JaxCase:
    """gan_jax's compiled step on a fixed real batch (toys draw theirs inside the step)."""

    def __init__(self, model: str, shape: tuple[int, ...], batch: int):
        config = _config(model, batch)
        gan = state_lib.make_gan(config, shape)
        mesh = steps.make_mesh()
        self.state = jax.device_put(state_lib.init_state(gan, 0), steps.replicated(mesh))
        self.params = (state_lib.param_count(self.state.g_params),
                       state_lib.param_count(self.state.d_params))
        sampler = None
        self.batch = None
        if model == "mlp":
            mixture = synthetic.ring(8)
            sampler = lambda key: {"image": synthetic.sample(mixture, key)}
        else:
            real = jax.random.uniform(jax.random.PRNGKey(1), (1, batch, *shape), minval=-1)
            self.batch = {"image": jax.device_put(real, steps.batch_sharding(mesh))}
        start = time.perf_counter()
        self.step = steps.parallelize(gan, mesh, batch, sampler).lower(
            self.state, self.batch).compile()
        self.compile_s = time.perf_counter() - start
        cost = self.step.cost_analysis()
        cost = cost[0] if isinstance(cost, list | tuple) else cost
        self.flops = float(cost.get("flops", float("nan")))
        mem = self.step.memory_analysis()
        self.memory_bytes = (mem.argument_size_in_bytes + mem.output_size_in_bytes
                             + mem.temp_size_in_bytes - mem.alias_size_in_bytes)
        self.run(1)

    def run(self, n: int) -> float:
        """Runs n steps; returns seconds. Only the last step's metrics are waited for."""
        start = time.perf_counter()
        for _ in range(n):
            self.state, metrics = self.step(self.state, self.batch)
        jax.block_until_ready(metrics)
        return time.perf_counter() - start


class TorchCase:
    """The PyTorch reference step on a fixed real batch (toys sample the ring each step)."""

    def __init__(self, model: str, shape: tuple[int, ...], batch: int):
        torch.manual_seed(0)
        self.batch_size = batch
        if model == "mlp":
            self.gan = torch_reference.mlp(data_dim=shape[0])
            angles = torch.arange(8) * (2 * np.pi / 8)
            self.means = torch.stack([torch.cos(angles), torch.sin(angles)], 1)
            self.real = None
        elif model == "resnet":
            self.gan = torch_reference.resnet32()
            self.real = torch.rand(1, batch, 3, 32, 32) * 2 - 1
        else:
            h, w, c = shape
            self.gan = torch_reference.dcgan(h, c)
            self.real = torch.rand(1, batch, c, h, w) * 2 - 1
        self.params = (torch_reference.param_count(self.gan.g),
                       torch_reference.param_count(self.gan.d))
        self.run(1)
        # Model FLOPs of one step of the plain formulation (transposed convolutions as such).
        with FlopCounterMode(display=False) as counter:
            self.run(1)
        self.flops = float(counter.get_total_flops())

    def _real(self) -> torch.Tensor:
        if self.real is not None:
            return self.real
        modes = torch.randint(0, 8, (self.batch_size,))
        return (self.means[modes] + 0.01 * torch.randn(self.batch_size, 2))[None]

    def run(self, n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            self.gan.train_step(self._real())
        return time.perf_counter() - start


def matmul_rate(n: int = 2048, repeats: int = 10) -> tuple[float, float]:
    """Measured float32 n x n matmul rate, FLOP/s: (jnp.dot, torch.matmul)."""
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    dot = jax.jit(jnp.dot)
    jax.block_until_ready(dot(a, a))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(dot(a, a))
        times.append(time.perf_counter() - start)
    at = torch.randn(n, n)
    torch.matmul(at, at)
    t_times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(at, at)
        t_times.append(time.perf_counter() - start)
    flops = 2.0 * n ** 3
    return flops / min(times), flops / min(t_times)


def layer_matmul_rate(m: int = 512, k: int = 128, n: int = 128, chain: int = 256) -> float:
    """FLOP/s of the MLP toy's own product shape, [m, k] @ [k, n], repeated on device.

    ``chain`` products in one compiled loop, so no dispatch is counted: the best a step
    built of this shape can reach, against the 2048x2048 rate of :func:`matmul_rate`.
    """
    x = jax.random.normal(jax.random.PRNGKey(0), (m, k), jnp.float32)
    w = jax.random.normal(jax.random.PRNGKey(1), (k, n), jnp.float32) / np.sqrt(k)

    @jax.jit
    def run(x, w):
        return jax.lax.fori_loop(0, chain, lambda _, h: h @ w, x)

    jax.block_until_ready(run(x, w))
    times = []
    for _ in range(5):
        start = time.perf_counter()
        jax.block_until_ready(run(x, w))
        times.append(time.perf_counter() - start)
    return 2.0 * m * k * n * chain / min(times)


def retain_probe(seconds: float, rounds: int = 2) -> dict[int, dict[str, float]]:
    """The DCGAN 28x28x1 step with and without :func:`gan_jax.host.retain_freed_memory`.

    The setting must precede JAX's backend, so each measurement is a fresh process
    (``GAN_JAX_RETAIN_FREED_MEMORY`` 1 or 0), alternating ``rounds`` times, sharing a
    compilation cache so that only the first compiles. Returns, per batch, the median
    steps/s and minor page faults per step of each setting and the median of the
    per-round speed ratios (retained / default).
    """
    results = {True: [], False: []}
    with tempfile.TemporaryDirectory() as cache:
        for _ in range(rounds):
            for retain in (True, False):
                env = {**os.environ, "GAN_JAX_RETAIN_FREED_MEMORY": "1" if retain else "0"}
                proc = subprocess.run(
                    [sys.executable, os.path.abspath(__file__), "--retain-probe", cache,
                     str(seconds)], capture_output=True, text=True, check=True, env=env)
                results[retain].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    out = {}
    for batch in (64, 256):
        b = str(batch)
        on = [r[b] for r in results[True]]
        off = [r[b] for r in results[False]]
        out[batch] = {
            "retained steps/s": statistics.median(r[0] for r in on),
            "default steps/s": statistics.median(r[0] for r in off),
            "retained faults/step": statistics.median(r[1] for r in on),
            "default faults/step": statistics.median(r[1] for r in off),
            "ratio": statistics.median(a[0] / d[0] for a, d in zip(on, off, strict=True)),
            "rounds": rounds,
        }
    return out


def _retain_probe_child(cache_dir: str, seconds: float) -> None:
    applied = host.retain_freed_memory()
    assert applied == (os.environ["GAN_JAX_RETAIN_FREED_MEMORY"] == "1"), applied
    from gan_jax.compilation import use_compilation_cache

    use_compilation_cache(cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    out = {}
    for batch in (64, 256):
        case = JaxCase("dcgan", (28, 28, 1), batch)
        rate, faults, _ = _timed(case, _rate_n(case, seconds))
        out[batch] = (rate, faults)
    print(json.dumps(out))


def pipeline_rate(batch: int, n: int) -> float:
    """Real batches per second that the TFDS pipeline delivers as device arrays (mnist5k)."""
    from input_pipeline import _rate  # benchmarks/input_pipeline.py

    config = base_config()
    config.data.name, config.data.shuffle_buffer = "mnist5k", 60_000
    config.data.data_dir = os.path.join(tempfile.gettempdir(), "tfds")
    batches = data.get(config.data).batches(steps.make_mesh(), global_batch=batch, n_disc=1,
                                            seed=0)
    return _rate(batches, n)


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    device = jax.devices()[0]
    return (f"{cpu}, {os.cpu_count()} cores; JAX backend {device.platform} "
            f"({device.device_kind}, {jax.device_count()} device(s)); jax {jax.__version__}, "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"Python {platform.python_version()}")


def _timed(case, n: int) -> tuple[float, float, float]:
    """Runs n steps: (steps/s, minor page faults per step, kernel CPU seconds per step)."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    seconds = case.run(n)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return (n / seconds, (after.ru_minflt - before.ru_minflt) / n,
            (after.ru_stime - before.ru_stime) / n)


def _rate_n(case, seconds: float) -> int:
    """Steps that take about ``seconds``, from one timed step."""
    return max(2, int(seconds / max(case.run(1), 1e-4)))


# ---------------------------------------------------------------- the ResNet SNGAN-32 case

RESNET_CASE = ("ResNet SNGAN 32x32x3", "resnet", (32, 32, 3), 64)


class _ResNetLayer(layer_bench._JaxLayer):
    """One jitted forward+backward of a ResNet block in train mode (batch norm's statistics
    from the batch, spectral norm's power iteration), gradients w.r.t. parameters and input;
    the forward alone for a ``forward_only`` layer. ``layers._JaxLayer`` with the
    ``batch_stats`` collection (spectral norm's vectors) carried in."""

    def __init__(self, layer, batch: int):
        module = layer.jax_layer()
        keys = jax.random.split(jax.random.PRNGKey(0), 3)
        self.x = jax.random.normal(keys[0], (batch, *layer.in_shape))
        variables = module.init(keys[1], self.x)
        self.params, stats = variables["params"], variables.get("batch_stats", {})

        def apply(p, x):
            return module.apply({"params": p, "batch_stats": stats}, x,
                                mutable=["batch_stats"])[0]

        self.ct = jax.random.normal(keys[2], jax.eval_shape(apply, self.params, self.x).shape)
        if layer.forward_only:
            self.fn = jax.jit(lambda p, x, ct: apply(p, x))
        else:
            argnums = (0, 1) if layer.input_grad else 0
            self.fn = jax.jit(jax.grad(lambda p, x, ct: jnp.vdot(apply(p, x), ct),
                                       argnums=argnums))
        jax.block_until_ready(self.fn(self.params, self.x, self.ct))


def resnet32_layers() -> list:
    """The SNGAN-32 G's and D's layers as a train step runs them, both frameworks."""
    import flax.linen as nn

    from gan_jax.models import resnet

    tn, tr = torch.nn, torch_reference

    class GBlock(nn.Module):
        @nn.compact
        def __call__(self, x):
            norm = lambda name: resnet.BatchNorm(None, name=name)
            return resnet.GBlock(256, norm)(x, None, True)

    class DBlock(nn.Module):
        features: int
        hidden: int
        down: bool
        first: bool

        @nn.compact
        def __call__(self, x):
            return resnet.DBlock(self.features, self.hidden, self.down, self.first)(x, True)

    class GOut(nn.Module):
        @nn.compact
        def __call__(self, x):
            h = nn.relu(resnet.batch_norm(True, None)(x))
            return nn.tanh(nn.Conv(3, (3, 3), padding="SAME")(h))

    class Conv(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Conv(256, (3, 3), padding="SAME")(x)

    class GForward(nn.Module):
        @nn.compact
        def __call__(self, z):
            g = resnet.ResNetGenerator((32, 32, 3), (256,) * 4, 4)
            return g(z, None, train=True)

    L = layer_bench.Layer
    layers = [
        L("G fc 128->4x4x256", "G", (128,), lambda: nn.Dense(4096),
          lambda: tn.Linear(128, 4096), input_grad=False),
    ]
    for side in (4, 8, 16):
        layers.append(L(f"G block {side}->{2 * side}, 256", "G", (side, side, 256), GBlock,
                        lambda: tr.ResNetGBlock(256, 256)))
    layers += [
        L("G BN+ReLU+conv3x3 256->3+tanh, 32x32", "G", (32, 32, 256), GOut,
          lambda: tn.Sequential(tr._bn2d(256), tn.ReLU(), tn.Conv2d(256, 3, 3, 1, 1),
                                tn.Tanh())),
        L("D optimised block 32->16, 3->128", "D", (32, 32, 3),
          lambda: DBlock(128, 128, True, True), lambda: tr.ResNetDBlock(3, 128, True, True)),
        L("D block 16->8, 128", "D", (16, 16, 128), lambda: DBlock(128, 128, True, False),
          lambda: tr.ResNetDBlock(128, 128, True, False)),
        L("D block 8x8, 128 (x2 in D)", "D2", (8, 8, 128),
          lambda: DBlock(128, 128, False, False),
          lambda: tr.ResNetDBlock(128, 128, False, False)),
        L("G forward only (the D update's generated batch)", "G fwd", (128,), GForward,
          lambda: tr.ResNetGenerator(), forward_only=True),
        L("(one conv3x3 256->256 at 32x32)", "plain", (32, 32, 256), Conv,
          lambda: tn.Conv2d(256, 256, 3, 1, 1)),
    ]
    return layers


# How often a train step runs each row: D three times (real and generated batch in the D
# update, generated in the G update), the 8x8 block twice per D pass.
RESNET_WEIGHTS = {"G": 1, "D": 3, "D2": 6, "G fwd": 1, "plain": 0}


def _cpu_kind() -> tuple[str, str]:
    """(section key, description) from the CPU's vector extensions."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(next(line for line in f if line.startswith("flags")).split())
    except (OSError, StopIteration):
        flags = set()
    found = [name for flag, name in (("avx2", "AVX2"), ("avx512f", "AVX-512"))
             if flag in flags]
    key = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "other"
    return key, " + ".join(found) or "no AVX2"


def resnet_main() -> None:
    parser = argparse.ArgumentParser(description="the ResNet SNGAN-32 step and its layers")
    parser.add_argument("--resnet", action="store_true")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..",
                                                      "BENCHMARKS.md"))
    args = parser.parse_args()
    host.retain_freed_memory()
    print(_machine())
    load_before = os.getloadavg()
    name, model, shape, batch = RESNET_CASE
    jc, tc = JaxCase(model, shape, batch), TorchCase(model, shape, batch)
    assert jc.params == tc.params, (jc.params, tc.params)
    print(f"{name} B={batch}: params G {jc.params[0]:,} D {jc.params[1]:,}; compile "
          f"{jc.compile_s:.1f} s", flush=True)
    n_jax, n_torch = _rate_n(jc, args.seconds), _rate_n(tc, args.seconds)
    jr, tr = [], []
    for _ in range(args.repeats):
        jr.append(_timed(jc, n_jax)[0])
        tr.append(_timed(tc, n_torch)[0])
        print(f"  round: JAX {jr[-1]:.3f} steps/s, PyTorch {tr[-1]:.3f}", flush=True)
    ratios = [j / t for j, t in zip(jr, tr, strict=True)]
    step = (statistics.median(jr), statistics.median(tr), statistics.median(ratios),
            jc.compile_s, tc.flops / 1e9, jc.params)
    del jc, tc
    rows = []
    for layer in resnet32_layers():
        jt, tt, r = layer_bench._alternate(_ResNetLayer(layer, batch),
                                           layer_bench._TorchLayer(layer, batch),
                                           args.seconds / 4, args.repeats)
        rows.append((layer.name, layer.net, 1e3 * jt, 1e3 * tt, r))
        print(f"  {layer.name}: JAX {1e3 * jt:.1f} ms, PyTorch {1e3 * tt:.1f} ms, {r:.2f}x",
              flush=True)
    _write_resnet(args, step, rows, ratios, (load_before, os.getloadavg()))


def _write_resnet(args, step, rows, ratios, load) -> None:
    key, flags = _cpu_kind()
    jr, tr, ratio, compile_s, gflop, params = step
    weighted = [(n, net, j * RESNET_WEIGHTS[net], t * RESNET_WEIGHTS[net], r)
                for n, net, j, t, r in rows if RESNET_WEIGHTS[net]]
    j_sum, t_sum = sum(w[2] for w in weighted), sum(w[3] for w in weighted)
    top = max(weighted, key=lambda w: w[2])
    conv = next(r for r in rows if r[1] == "plain")
    lines = [
        f"<!-- resnet-speed-{key}:start -->",
        f"## ResNet SNGAN-32: gan_jax against PyTorch eager ({flags})",
        "",
        f"Generated by `nice -n 5 python benchmarks/speed.py --resnet --seconds "
        f"{args.seconds:g} --repeats {args.repeats}` on {datetime.date.today().isoformat()}; "
        "one section per kind of CPU (by vector extensions), rerun on such a CPU to "
        "regenerate it.",
        "",
        f"Machine: {_machine()}.",
        "",
        f"Load average at the start: {', '.join(f'{x:.2f}' for x in load[0])}; at the end: "
        f"{', '.join(f'{x:.2f}' for x in load[1])} "
        f"({_load_note(max(load[0][0], load[1][0]))}).",
        "",
        "The step of the table above (one D update, one G update, Adam, non-saturating "
        "loss) for `gan_jax/models/resnet.py` at SNGAN's CIFAR-10 widths (G 256 channels, "
        "D 128, spectral norm on every D layer) against `benchmarks/torch_reference.py`'s "
        "`resnet32()`, same parameter counts, alternating rounds in one process:",
        "",
        "| model | batch | params (G+D) | JAX steps/s | PyTorch steps/s | JAX / PyTorch "
        "| per-round ratios | compile (s) | GFLOP/step |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
        f"| {RESNET_CASE[0]} | {RESNET_CASE[3]} | {params[0] + params[1]:,} | {jr:.3f} | "
        f"{tr:.3f} | **{ratio:.2f}x** | {', '.join(f'{r:.2f}' for r in ratios)} | "
        f"{compile_s:.1f} | {gflop:.1f} |",
        "",
        "Per layer, forward and backward in train mode (gradients w.r.t. parameters and "
        "input), each layer jitted alone against the same PyTorch module; 'x step' is how "
        "often a train step runs it:",
        "",
        "| layer | x step | JAX ms | PyTorch ms | PyTorch / JAX |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for n, net, j, t, r in rows:
        lines.append(f"| {n} | {RESNET_WEIGHTS[net]} | {j:.1f} | {t:.1f} | {r:.2f}x |")
    lines += [
        "",
        f"Weighted by how often a step runs them, the layers add up to {j_sum:.0f} ms (JAX) "
        f"and {t_sum:.0f} ms (PyTorch) per step, {t_sum / j_sum:.2f}x. The largest JAX "
        f"share is '{top[0]}' ({100 * top[2] / j_sum:.0f}% of the JAX sum, PyTorch / JAX "
        f"{top[4]:.2f}x there). A single 3x3 convolution 256->256 at 32x32 as XLA:CPU "
        f"computes it directly (`nn.Conv`) runs at {conv[4]:.2f}x PyTorch's speed; the "
        "G blocks compute that convolution by Winograd's F(2x2, 3x3) "
        "(`layers.WinogradConv`), their up-sampling convolution at the low resolution "
        "(`layers.UpsampleConv`) and D its convolution + pooling as one stride-2 "
        "convolution (`layers.ConvPool`), the same functions with fewer products.",
        f"<!-- resnet-speed-{key}:end -->",
    ]
    write_section(args.out, f"resnet-speed-{key}", lines)


def write_section(path: str, name: str, lines: list[str]) -> None:
    """Replaces the section ``name`` of ``path`` (the lines from ``<!-- name:start -->`` to
    ``<!-- name:end -->``, both markers included in ``lines``), or appends it."""
    block = "\n".join(lines)
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {os.path.abspath(path)} (section {name})")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--retain-probe":
        _retain_probe_child(sys.argv[2], float(sys.argv[3]))
        return
    if "--resnet" in sys.argv:
        resnet_main()
        return
    host.retain_freed_memory()  # before JAX's backend starts; PyTorch shares the setting
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="target duration of one timed run of one framework")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds per case")
    parser.add_argument("--long", action="store_true", help="--seconds 10 --repeats 7")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..",
                                                      "BENCHMARKS.md"))
    args = parser.parse_args()
    if args.long:
        args.seconds, args.repeats = 10.0, 7
    print(_machine())
    load_before = os.getloadavg()
    jax_mm, torch_mm = matmul_rate()
    print(f"matmul 2048^2 fp32: jnp.dot {jax_mm / 1e9:.1f} GFLOP/s, torch {torch_mm / 1e9:.1f}")

    rows, step_rates, host_mem = [], {}, {}
    for name, model, shape, batch in CASES:
        jc, tc = JaxCase(model, shape, batch), TorchCase(model, shape, batch)
        assert jc.params == tc.params, (name, jc.params, tc.params)
        print(f"{name} B={batch}: params G {jc.params[0]:,} D {jc.params[1]:,} (JAX) / "
              f"G {tc.params[0]:,} D {tc.params[1]:,} (PyTorch); compile {jc.compile_s:.1f} s")
        n_jax, n_torch = _rate_n(jc, args.seconds), _rate_n(tc, args.seconds)
        jax_runs, torch_runs = [], []
        for _ in range(args.repeats):
            jax_runs.append(_timed(jc, n_jax))
            torch_runs.append(_timed(tc, n_torch))
        jax_rates, torch_rates = [r[0] for r in jax_runs], [r[0] for r in torch_runs]
        host_mem[(name, batch)] = tuple(statistics.median(r[i] for r in runs)
                                        for runs in (jax_runs, torch_runs) for i in (1, 2))
        ratio = statistics.median(j / t for j, t in zip(jax_rates, torch_rates, strict=True))
        jr, tr = statistics.median(jax_rates), statistics.median(torch_rates)
        mfu = tc.flops * jr / jax_mm
        step_rates[(name, batch)] = jr
        rounds = ", ".join(f"{j / t:.2f}" for j, t in zip(jax_rates, torch_rates, strict=True))
        print(f"  JAX {jr:.2f} steps/s, PyTorch {tr:.2f} steps/s, ratio {ratio:.2f} "
              f"(rounds: {rounds}); "
              f"{tc.flops / 1e9:.2f} model GFLOP/step ({jc.flops / 1e9:.2f} as compiled by XLA), "
              f"{100 * mfu:.0f}% of the matmul rate")
        rows.append((name, batch, f"{jc.params[0] + jc.params[1]:,}", jr, tr, ratio,
                     jc.compile_s, tc.flops / 1e9, mfu, jc.memory_bytes / 2 ** 20))
        del jc, tc

    pipe_batch = 64
    pipe = pipeline_rate(pipe_batch, max(20, int(50 * args.seconds / 2)))
    consumed = step_rates[("DCGAN 28x28x1", pipe_batch)]
    print(f"input pipeline (mnist5k, batch {pipe_batch}): {pipe:.1f} batches/s, step consumes "
          f"{consumed:.2f}/s: {pipe / consumed:.1f}x")
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mlp_shape_rate = layer_matmul_rate()
    print(f"matmul 512x128 @ 128x128 fp32 (the MLP's shape): {mlp_shape_rate / 1e9:.1f} GFLOP/s")
    retain = retain_probe(args.seconds)
    print(f"retained freed memory vs glibc's default: {retain}")

    layer_rows = {}
    for batch in (64, 256):
        layer_rows[batch] = layer_bench.layer_times(batch)
        for r in layer_rows[batch]:
            print(f"  B={batch} {r.name}: JAX {r.jax_ms:.2f} ms, PyTorch {r.torch_ms:.2f} ms, "
                  f"{r.speedup:.2f}x", flush=True)
    split = layer_bench.compile_split(64)
    cache = layer_bench.cache_probe()
    print(f"compile split: {split}; persistent cache: {cache}")
    step_ms = {r[1]: (1e3 / r[3], 1e3 / r[4]) for r in rows if r[0] == "DCGAN 28x28x1"}
    extra = layer_bench.markdown(layer_rows, step_ms, split, cache)
    load = (load_before, os.getloadavg())
    _write(args, rows, jax_mm, torch_mm, pipe, pipe_batch, consumed, peak_rss, extra, load,
           cache, host_mem, retain, mlp_shape_rate)


def _load_note(load: float) -> str:
    cores = os.cpu_count() or 1
    if load > cores:
        return (f"the machine was loaded by other processes, more than its {cores} cores: "
                "absolute steps/s are low and noisy, only the side-by-side ratios count")
    return f"at most one busy process per core ({cores} cores)"


def _targets(rows, jax_mm, pipe_ratio, cache, mlp_shape_rate):
    """(target, measured, met: "yes"/"no"...) for each target of the performance issue."""
    by_case = {(r[0], r[1]): r for r in rows}
    d64, d256 = by_case[("DCGAN 28x28x1", 64)], by_case[("DCGAN 28x28x1", 256)]
    mlp = by_case[("MLP toy (ring8)", 512)]
    worst_compile = max(r[6] for r in rows)
    cached = cache["re-compile (cache hit)"]

    def yes(ok: bool) -> str:
        return "yes" if ok else "no"

    return [
        ("DCGAN28 B=64 >= 1.2x PyTorch", f"{d64[5]:.2f}x", yes(d64[5] >= 1.2)),
        ("DCGAN28 B=256 >= 1.0x PyTorch", f"{d256[5]:.2f}x", yes(d256[5] >= 1.0)),
        ("MLP B=512 >= 1.5x PyTorch", f"{mlp[5]:.2f}x", yes(mlp[5] >= 1.5)),
        ("MLP >= 90% of the matmul rate",
         f"{100 * mlp[8]:.0f}% ({mlp[7] * mlp[3]:.1f} of {jax_mm / 1e9:.1f} GFLOP/s); the "
         f"MLP's own 512x128 @ 128x128 product alone: {mlp_shape_rate / 1e9:.1f} GFLOP/s "
         f"({100 * mlp_shape_rate / jax_mm:.0f}%)",
         yes(mlp[8] >= 0.9)),
        ("compile <= 5 s",
         f"{worst_compile:.1f} s first compile (slowest case); {cached:.1f} s from the "
         "persistent compilation cache (DCGAN28 B=64)",
         "yes" if worst_compile <= 5 else f"no; from the cache: {yes(cached <= 5)}"),
        ("input pipeline >= 10x step consumption", f"{pipe_ratio:.1f}x", yes(pipe_ratio >= 10)),
    ]


def _write(args, rows, jax_mm, torch_mm, pipe, pipe_batch, consumed, peak_rss, extra,
           load, cache, host_mem, retain, mlp_shape_rate) -> None:
    cmd = "python benchmarks/speed.py" + (" --long" if args.long else
                                          f" --seconds {args.seconds:g} --repeats {args.repeats}")
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{cmd}` on {datetime.date.today().isoformat()}; rerun it to regenerate "
        "this file.",
        "",
        f"Machine: {_machine()}.",
        "",
        f"Load average (1, 5, 15 min) at the start: {', '.join(f'{x:.2f}' for x in load[0])}; "
        f"at the end: {', '.join(f'{x:.2f}' for x in load[1])} "
        f"({_load_note(max(load[0][0], load[1][0]))}).",
        "",
        "Each case alternates JAX and PyTorch runs in the same process "
        f"({args.repeats} rounds of about {args.seconds:g} s each); steps/s are medians and "
        "the ratio is the median of the per-round ratios (JAX / PyTorch). One step is one D "
        "update and one G update (Adam for both, batch norm, non-saturating loss; both "
        "return the same metrics: losses, mean logits, gradient norms). Both run with "
        "`gan_jax.host.retain_freed_memory()` (glibc keeps freed memory for reuse; see "
        "\"Host memory\" below). Compile "
        "time is `lower(...).compile()` of the jitted train step; GFLOP/step counts the model's "
        "FLOPs (PyTorch's FlopCounterMode over one reference step: matmuls and convolutions, "
        "transposed convolutions as such); \"of matmul rate\" is GFLOP/step x steps/s over "
        f"the measured 2048x2048 float32 `jnp.dot` rate ({jax_mm / 1e9:.1f} GFLOP/s; "
        f"PyTorch's matmul: {torch_mm / 1e9:.1f} GFLOP/s); memory is the compiled step's "
        "arguments, outputs and temporaries.",
        "",
        "| model | batch | params (G+D) | JAX steps/s | PyTorch steps/s | JAX / PyTorch | "
        "compile (s) | GFLOP/step | of matmul rate | step memory (MiB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, batch, params, jr, tr, ratio, comp, gflop, mfu, mem in rows:
        lines.append(f"| {name} | {batch} | {params} | {jr:.2f} | {tr:.2f} | **{ratio:.2f}x** | "
                     f"{comp:.1f} | {gflop:.2f} | {100 * mfu:.0f}% | {mem:.0f} |")
    lines += [
        "",
        f"Input pipeline (TFDS mnist5k to sharded device arrays, batch {pipe_batch}): "
        f"{pipe:.1f} batches/s against the {consumed:.2f} steps/s the DCGAN 28x28x1 step "
        f"consumes: **{pipe / consumed:.1f}x**.",
        "",
        f"Peak resident memory of the benchmark process (both frameworks): {peak_rss:.0f} MiB.",
        "",
        "## Host memory",
        "",
        "XLA:CPU runs each step in a fresh temporary buffer; with glibc's defaults a buffer "
        "that large is mapped and unmapped every step, and each 4 KiB page faults on first "
        "touch. `gan_jax.host.retain_freed_memory()`, which the entry points call before "
        "JAX starts (`gan-jax`, sweeps, the paper reproductions, these benchmarks), makes "
        "glibc keep freed memory for reuse. Minor page faults and kernel CPU time per step in "
        "the timed runs above (medians over the rounds):",
        "",
        "| model | batch | JAX faults/step | JAX kernel ms/step | PyTorch faults/step | "
        "PyTorch kernel ms/step |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (name, batch), (jf, js, tf, ts) in host_mem.items():
        lines.append(f"| {name} | {batch} | {jf:,.0f} | {1e3 * js:.1f} | {tf:,.0f} | "
                     f"{1e3 * ts:.1f} |")
    lines += [
        "",
        "The JAX DCGAN 28x28x1 step in fresh processes with the setting and without it "
        "(`GAN_JAX_RETAIN_FREED_MEMORY=1` / `0`), alternating, "
        f"{retain[64]['rounds']} rounds; medians, and the median of the per-round ratios:",
        "",
        "| batch | retained: steps/s | faults/step | glibc default: steps/s | faults/step | "
        "retained / default |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for batch, r in retain.items():
        lines.append(f"| {batch} | {r['retained steps/s']:.2f} | {r['retained faults/step']:,.0f} "
                     f"| {r['default steps/s']:.2f} | {r['default faults/step']:,.0f} | "
                     f"**{r['ratio']:.2f}x** |")
    lines.append("")
    lines += ["## Targets", "", "| target | measured | met |", "| --- | --- | --- |"]
    for target, measured, met in _targets(rows, jax_mm, pipe / consumed, cache,
                                          mlp_shape_rate):
        lines.append(f"| {target} | {measured} | {met} |")
    lines.append("")
    lines += extra
    text = "\n".join(lines)
    # Sections other benchmarks own (between their <!-- NAME:start/end --> markers) stay.
    if os.path.exists(args.out):
        with open(args.out) as f:
            old = f.read()
        for block in re.findall(r"<!-- ([\w-]+):start -->.*?<!-- \1:end -->", old, re.S):
            start, end = f"<!-- {block}:start -->", f"<!-- {block}:end -->"
            kept = old[old.index(start):old.index(end) + len(end)]
            text = text.rstrip("\n") + "\n\n" + kept + "\n"
    with open(args.out, "w") as f:
        f.write(text)
    print(f"wrote {os.path.abspath(args.out)}")


if __name__ == "__main__":
    main()
