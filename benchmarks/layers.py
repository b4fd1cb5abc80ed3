"""Per-layer timing of the DCGAN 28x28x1 step in JAX and PyTorch, and where compile time goes.

    python benchmarks/layers.py           # prints the tables (benchmarks/speed.py includes them)

Every layer of gan_jax's DCGAN generator and discriminator (the same modules the
models use: ``nn.Dense``, ``nn.Conv``, :class:`~gan_jax.models.layers.PhaseConvTranspose`,
:class:`~gan_jax.models.layers.SubPixelConvTranspose`, ``nn.BatchNorm`` in train mode)
is timed alone, forward and backward (gradients of a fixed random linear function of
the output with respect to the layer's parameters and its input; the generator's first
layer has no input gradient), as one jitted function, against the same layer of
``benchmarks/torch_reference.py`` in PyTorch eager mode, alternately in the same
process. So are the Adam updates of both networks' parameters. The per-step estimate
weighs the layers as a train step runs them: the discriminator three times (real and
generated batch in the D update, the generated batch in the G update), the generator
once (the G update). The D update's generator pass, forward only (no gradient; batch
norm in train mode), is one more row: the whole generator, ``DCGANGenerator`` of
``gan_jax.models.dcgan`` against the reference's generator under ``torch.no_grad()``.

:func:`compile_split` splits the train step's compile time into lowering (tracing and
emitting StableHLO) and XLA's compilation, and compiles G's and D's forward+backward
and the optimizer updates alone to show which part the time comes from;
:func:`cache_probe` measures a re-compile with JAX's persistent compilation cache.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import torch_reference  # noqa: E402

from gan_jax import host  # noqa: E402
from gan_jax.models.dcgan import DCGANGenerator  # noqa: E402
from gan_jax.models.layers import (  # noqa: E402
    PatchConv,
    PhaseConvTranspose,
    SubPixelConvTranspose,
)

_init = nn.initializers.normal(0.02)
LATENT, SIDE, CHANNELS = 64, 28, 1
# How often a train step runs each network's forward+backward (see the module docstring).
# "plain" rows time the layer a rewrite replaced, for comparison; a step does not run them.
WEIGHTS = {"G": 1, "D": 3, "G fwd": 1, "Adam": 1, "plain": 0}


def _bn() -> nn.BatchNorm:
    return nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5)


class _Then(nn.Module):
    """``act(layer(x))``; BatchNorm's statistics are computed but not kept."""

    layer: nn.Module
    act: Callable = lambda h: h

    @nn.compact
    def __call__(self, x):
        return self.act(self.layer(x))


def _lrelu(h):
    return nn.leaky_relu(h, 0.2)


@dataclasses.dataclass
class Layer:
    name: str
    net: str                         # a key of WEIGHTS
    in_shape: tuple[int, ...]        # NHWC / NC, batch excluded
    jax_layer: Callable[[], nn.Module]
    torch_layer: Callable[[], torch.nn.Module]
    input_grad: bool = True
    forward_only: bool = False       # time the forward pass alone (no gradient)


def dcgan28_layers() -> list[Layer]:
    """The layers of the DCGAN 28x28x1 G and D, in order, with the shapes they see."""
    tn = torch.nn
    s4 = SIDE // 4
    n4 = s4 * s4 * 128
    return [
        Layer("G fc 64->1024", "G", (LATENT,), lambda: nn.Dense(1024, kernel_init=_init),
              lambda: tn.Linear(LATENT, 1024), input_grad=False),
        Layer("G BN+ReLU [1024]", "G", (1024,), lambda: _Then(_bn(), nn.relu),
              lambda: tn.Sequential(tn.BatchNorm1d(1024), tn.ReLU())),
        Layer(f"G fc 1024->{n4}", "G", (1024,), lambda: nn.Dense(n4, kernel_init=_init),
              lambda: tn.Linear(1024, n4)),
        Layer(f"G BN+ReLU [{n4}]", "G", (n4,), lambda: _Then(_bn(), nn.relu),
              lambda: tn.Sequential(tn.BatchNorm1d(n4), tn.ReLU())),
        Layer(f"G deconv {s4}->{2 * s4}, 128->64", "G", (s4, s4, 128),
              lambda: PhaseConvTranspose(64, 4, 2, kernel_init=_init),
              lambda: tn.ConvTranspose2d(128, 64, 4, 2, 1)),
        Layer(f"G BN+ReLU [{2 * s4}x{2 * s4}x64]", "G", (2 * s4, 2 * s4, 64),
              lambda: _Then(_bn(), nn.relu),
              lambda: tn.Sequential(tn.BatchNorm2d(64), tn.ReLU())),
        Layer(f"G deconv {2 * s4}->{SIDE}, 64->{CHANNELS} + tanh", "G", (2 * s4, 2 * s4, 64),
              lambda: _Then(SubPixelConvTranspose(CHANNELS, 4, 2, kernel_init=_init), nn.tanh),
              lambda: tn.Sequential(tn.ConvTranspose2d(64, CHANNELS, 4, 2, 1), tn.Tanh())),
        Layer(f"D conv {SIDE}->{2 * s4}, {CHANNELS}->64 + lReLU", "D", (SIDE, SIDE, CHANNELS),
              lambda: _Then(PatchConv(64, 4, stride=2, kernel_init=_init), _lrelu),
              lambda: tn.Sequential(tn.Conv2d(CHANNELS, 64, 4, 2, 1), tn.LeakyReLU(0.2))),
        Layer(f"D conv {2 * s4}->{s4}, 64->128", "D", (2 * s4, 2 * s4, 64),
              lambda: nn.Conv(128, (4, 4), (2, 2), "SAME", kernel_init=_init),
              lambda: tn.Conv2d(64, 128, 4, 2, 1)),
        Layer(f"D BN+lReLU [{s4}x{s4}x128]", "D", (s4, s4, 128), lambda: _Then(_bn(), _lrelu),
              lambda: tn.Sequential(tn.BatchNorm2d(128), tn.LeakyReLU(0.2))),
        Layer(f"D fc {n4}->1024", "D", (n4,), lambda: nn.Dense(1024, kernel_init=_init),
              lambda: tn.Linear(n4, 1024)),
        Layer("D BN+lReLU [1024]", "D", (1024,), lambda: _Then(_bn(), _lrelu),
              lambda: tn.Sequential(tn.BatchNorm1d(1024), tn.LeakyReLU(0.2))),
        Layer("D fc 1024->1", "D", (1024,), lambda: nn.Dense(1, kernel_init=_init),
              lambda: tn.Linear(1024, 1)),
        Layer("G forward only (the D update's generated batch)", "G fwd", (LATENT,),
              lambda: DCGANGenerator((SIDE, SIDE, CHANNELS)),
              lambda: torch_reference.DCGANGenerator(LATENT, SIDE, CHANNELS),
              forward_only=True),
        Layer(f"(plain nn.ConvTranspose {s4}->{2 * s4}, 128->64)", "plain", (s4, s4, 128),
              lambda: nn.ConvTranspose(64, (4, 4), (2, 2), "SAME", kernel_init=_init),
              lambda: tn.ConvTranspose2d(128, 64, 4, 2, 1)),
        Layer(f"(plain nn.Conv {SIDE}->{2 * s4}, {CHANNELS}->64 + lReLU)", "plain",
              (SIDE, SIDE, CHANNELS),
              lambda: _Then(nn.Conv(64, (4, 4), (2, 2), "SAME", kernel_init=_init), _lrelu),
              lambda: tn.Sequential(tn.Conv2d(CHANNELS, 64, 4, 2, 1), tn.LeakyReLU(0.2))),
    ]


def _nchw(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[2], shape[0], shape[1]) if len(shape) == 3 else shape


class _JaxLayer:
    """One jitted forward+backward of a layer: gradients w.r.t. parameters (and input);
    the forward alone for a ``forward_only`` layer."""

    def __init__(self, layer: Layer, batch: int):
        module = layer.jax_layer()
        keys = jax.random.split(jax.random.PRNGKey(0), 3)
        self.x = jax.random.normal(keys[0], (batch, *layer.in_shape))
        variables = module.init(keys[1], self.x)
        self.params = variables["params"]
        out = jax.eval_shape(lambda p, x: module.apply({"params": p}, x,
                                                       mutable=["batch_stats"])[0],
                             self.params, self.x)
        self.ct = jax.random.normal(keys[2], out.shape)
        argnums = (0, 1) if layer.input_grad else 0

        def loss(p, x, ct):
            y, _ = module.apply({"params": p}, x, mutable=["batch_stats"])
            return jnp.vdot(y, ct)

        if layer.forward_only:
            self.fn = jax.jit(lambda p, x, ct: module.apply({"params": p}, x,
                                                            mutable=["batch_stats"])[0])
        else:
            self.fn = jax.jit(jax.grad(loss, argnums=argnums))
        jax.block_until_ready(self.fn(self.params, self.x, self.ct))

    def run(self, n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            out = self.fn(self.params, self.x, self.ct)
        jax.block_until_ready(out)
        return time.perf_counter() - start


class _TorchLayer:
    """The same layer's forward+backward in PyTorch eager mode (NCHW); forward alone
    under ``torch.no_grad()`` for a ``forward_only`` layer."""

    def __init__(self, layer: Layer, batch: int):
        torch.manual_seed(0)
        self.forward_only = layer.forward_only
        self.module = layer.torch_layer().train()
        self.x = torch.randn(batch, *_nchw(layer.in_shape),
                             requires_grad=layer.input_grad and not layer.forward_only)
        with torch.no_grad():
            self.ct = torch.randn_like(self.module(self.x))
        self.run(1)

    def run(self, n: int) -> float:
        start = time.perf_counter()
        if self.forward_only:
            with torch.no_grad():
                for _ in range(n):
                    self.module(self.x)
            return time.perf_counter() - start
        for _ in range(n):
            for p in self.module.parameters():
                p.grad = None
            self.x.grad = None
            self.module(self.x).backward(self.ct)
        return time.perf_counter() - start


class _JaxAdam:
    """optax Adam on parameters shaped like the DCGAN's G and D, jitted, buffers donated."""

    def __init__(self, shapes: list[tuple[int, ...]]):
        keys = jax.random.split(jax.random.PRNGKey(0), len(shapes))
        self.params = [jax.random.normal(k, s) for k, s in zip(keys, shapes, strict=True)]
        self.grads = [0.01 * p for p in self.params]
        self.tx = optax.adam(2e-4, b1=0.5)
        self.state = self.tx.init(self.params)

        def update(params, state, grads):
            updates, state = self.tx.update(grads, state, params)
            return optax.apply_updates(params, updates), state

        self.fn = jax.jit(update, donate_argnums=(0, 1))
        self.run(1)

    def run(self, n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            self.params, self.state = self.fn(self.params, self.state, self.grads)
        jax.block_until_ready(self.params)
        return time.perf_counter() - start


class _TorchAdam:
    """torch.optim.Adam (its default multi-tensor implementation) on the same shapes."""

    def __init__(self, shapes: list[tuple[int, ...]]):
        torch.manual_seed(0)
        self.params = [torch.nn.Parameter(torch.randn(*s)) for s in shapes]
        for p in self.params:
            p.grad = 0.01 * p.detach().clone()
        self.opt = torch.optim.Adam(self.params, lr=2e-4, betas=(0.5, 0.999))
        self.run(1)

    def run(self, n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            self.opt.step()
        return time.perf_counter() - start


def _param_shapes(layers: list[Layer]) -> list[tuple[int, ...]]:
    shapes = []
    for layer in layers:
        x = jnp.zeros((2, *layer.in_shape))
        params = jax.eval_shape(layer.jax_layer().init, jax.random.PRNGKey(0), x)["params"]
        shapes += [tuple(p.shape) for p in jax.tree.leaves(params)]
    return shapes


def _alternate(jax_case, torch_case, seconds: float, repeats: int) -> tuple[float, float, float]:
    """Median seconds per call of each (alternating rounds) and the median per-round ratio."""
    n_j = max(2, int(seconds / max(jax_case.run(1), 1e-5)))
    n_t = max(2, int(seconds / max(torch_case.run(1), 1e-5)))
    tj, tt = [], []
    for _ in range(repeats):
        tj.append(jax_case.run(n_j) / n_j)
        tt.append(torch_case.run(n_t) / n_t)
    speedup = statistics.median(t / j for j, t in zip(tj, tt, strict=True))
    return statistics.median(tj), statistics.median(tt), speedup


@dataclasses.dataclass
class Row:
    name: str
    net: str
    jax_ms: float
    torch_ms: float
    speedup: float                   # PyTorch time / JAX time (> 1: JAX faster)

    @property
    def weight(self) -> int:
        return WEIGHTS[self.net]


def layer_times(batch: int, seconds: float = 0.3, repeats: int = 3) -> list[Row]:
    """Forward+backward time of every DCGAN28 layer and of the Adam updates, both frameworks."""
    layers = dcgan28_layers()
    rows = []
    for layer in layers:
        jt, tt, r = _alternate(_JaxLayer(layer, batch), _TorchLayer(layer, batch), seconds,
                               repeats)
        rows.append(Row(layer.name, layer.net, 1e3 * jt, 1e3 * tt, r))
    shapes = _param_shapes([layer for layer in layers if layer.net in ("G", "D")])
    n = sum(int(np.prod(s)) for s in shapes)
    jt, tt, r = _alternate(_JaxAdam(shapes), _TorchAdam(shapes), seconds, repeats)
    rows.append(Row(f"Adam update, G+D ({n / 1e6:.1f}M params)", "Adam", 1e3 * jt, 1e3 * tt, r))
    return rows


def compile_split(batch: int = 64) -> dict[str, float]:
    """Seconds: the DCGAN28 train step's lowering and XLA compile; G, D and Adam alone."""
    from gan_jax import state as state_lib, steps
    from gan_jax.configs import base_config
    from gan_jax.models import model_config

    c = base_config()
    c.batch_size, c.model = batch, model_config("dcgan", latent_dim=LATENT)
    gan = state_lib.make_gan(c, (SIDE, SIDE, CHANNELS))
    mesh = steps.make_mesh()
    state = jax.device_put(state_lib.init_state(gan, 0), steps.replicated(mesh))
    real = {"image": jax.device_put(jnp.zeros((1, batch, SIDE, SIDE, CHANNELS)),
                                    steps.batch_sharding(mesh))}
    out = {}
    start = time.perf_counter()
    lowered = steps.parallelize(gan, mesh, batch).lower(state, real)
    out["step: lowering"] = time.perf_counter() - start
    start = time.perf_counter()
    lowered.compile()
    out["step: XLA compile"] = time.perf_counter() - start

    g = gan.generator.clone(axis_name=None)
    d = gan.discriminator.clone(axis_name=None)
    z = jnp.zeros((batch, LATENT))

    def g_loss(p):
        x, _ = g.apply({"params": p, "batch_stats": state.g_batch_stats}, z,
                       mutable=["batch_stats"])
        return jnp.sum(x)

    def d_loss(p, x):
        y, _ = d.apply({"params": p, "batch_stats": state.d_batch_stats}, x,
                       mutable=["batch_stats"])
        return jnp.sum(y)

    def adam(gp, gs, dp, ds):
        gu, gs = gan.g_tx.update(gp, gs, gp)
        du, ds = gan.d_tx.update(dp, ds, dp)
        return optax.apply_updates(gp, gu), gs, optax.apply_updates(dp, du), ds

    parts = {
        "G forward+backward": (jax.grad(g_loss), (state.g_params,)),
        "D forward+backward": (jax.grad(d_loss, argnums=(0, 1)),
                               (state.d_params, real[0])),
        "Adam updates (G and D)": (adam, (state.g_params, state.g_opt_state, state.d_params,
                                          state.d_opt_state)),
    }
    for name, (fn, args) in parts.items():
        start = time.perf_counter()
        lowered = jax.jit(fn).lower(*args)
        low = time.perf_counter() - start
        start = time.perf_counter()
        lowered.compile()
        out[f"{name}: lowering"] = low
        out[f"{name}: XLA compile"] = time.perf_counter() - start
    return out


def cache_probe() -> dict[str, float]:
    """Step compile time in two fresh processes sharing a persistent compilation cache.

    The first process compiles and writes the cache, the second reads it: the cache
    helps only re-compiles of the same program (a restarted run), never the first one.
    """
    with tempfile.TemporaryDirectory() as cache:
        times = []
        for _ in range(2):
            proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--cache-probe",
                                   cache], capture_output=True, text=True, check=True)
            times.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {"first compile (cache empty)": times[0]["step: compile"],
            "re-compile (cache hit)": times[1]["step: compile"]}


def _cache_probe_child(cache_dir: str) -> None:
    from gan_jax.compilation import use_compilation_cache

    use_compilation_cache(cache_dir)  # what training does with config.compilation_cache_dir
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    split = compile_split(64)
    print(json.dumps({"step: compile": split["step: lowering"] + split["step: XLA compile"]}))


def markdown(rows_by_batch: dict[int, list[Row]], step_ms: dict[int, tuple[float, float]],
             split: dict[str, float], cache: dict[str, float]) -> list[str]:
    """The per-layer tables, the compile split and the generated "Why the remaining gap"."""
    lines = ["## Per-layer breakdown (DCGAN 28x28x1)", "",
             "Each layer alone, forward and backward (gradients w.r.t. its parameters and its "
             "input), jitted JAX against PyTorch eager, alternating in the same process; "
             "milliseconds per call (medians), speed-up = PyTorch time / JAX time (median of "
             "the per-round ratios; > 1: JAX faster). \"x step\" is how often a train step runs "
             "the layer's forward+backward (D: real and generated batch in the D update, "
             "generated batch in the G update; G: the G update; the forward-only generator: "
             "the D update's generated batch, timed without a backward pass); "
             "\"JAX - PyTorch per step\" "
             "is the weighted difference (negative: JAX saves time). Rows in parentheses time "
             "the plain Flax layer that a rewrite in `gan_jax/models/layers.py` replaces "
             "(same function), for comparison; they are not part of the step.", ""]
    for batch, rows in rows_by_batch.items():
        lines += [f"Batch {batch}:", "",
                  "| layer | x step | JAX (ms) | PyTorch (ms) | speed-up | "
                  "JAX - PyTorch per step (ms) |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for r in sorted(rows, key=lambda r: not r.weight):
            lines.append(f"| {r.name} | {r.weight} | {r.jax_ms:.2f} | {r.torch_ms:.2f} | "
                         f"{r.speedup:.2f}x | {r.weight * (r.jax_ms - r.torch_ms):+.2f} |")
        wj = sum(r.weight * r.jax_ms for r in rows)
        wt = sum(r.weight * r.torch_ms for r in rows)
        lines += [f"| **weighted sum** | | **{wj:.1f}** | **{wt:.1f}** | **{wt / wj:.2f}x** | "
                  f"**{wj - wt:+.1f}** |", ""]
    lines += ["## Compile time", "",
              "The DCGAN 28x28x1 (batch 64) train step, split into lowering (tracing the "
              "Python code and emitting StableHLO) and XLA's compilation, and the parts "
              "compiled alone (G forward+backward, D forward+backward, the two Adam updates):",
              "", "| part | seconds |", "| --- | ---: |"]
    lines += [f"| {k} | {v:.2f} |" for k, v in split.items()]
    lines += ["", "With JAX's persistent compilation cache, which training turns on by default "
              "(`config.compilation_cache_dir`, `~/.cache/gan_jax/xla`), the same step "
              "compiled in two fresh processes: "
              f"{cache['first compile (cache empty)']:.2f} s the first time (cache empty), "
              f"{cache['re-compile (cache hit)']:.2f} s the second time (cache hit). The cache "
              "serves every later process that builds the identical program (a resumed or "
              "repeated run, the other seeds of a sweep), not the first compile.", ""]
    lines += _why(rows_by_batch, step_ms, split)
    return lines


def _why(rows_by_batch, step_ms, split) -> list[str]:
    lines = ["## Why the remaining gap", "",
             "Generated from the per-layer numbers above.", ""]
    for batch, rows in rows_by_batch.items():
        wj = sum(r.weight * r.jax_ms for r in rows)
        wt = sum(r.weight * r.torch_ms for r in rows)
        sj, st = step_ms[batch]
        plain = [r for r in rows if not r.weight]
        rows = [r for r in rows if r.weight]
        slower = sorted((r for r in rows if r.jax_ms > r.torch_ms),
                        key=lambda r: r.weight * (r.torch_ms - r.jax_ms))
        faster = [r for r in rows if r.jax_ms <= r.torch_ms]
        lost = sum(r.weight * (r.jax_ms - r.torch_ms) for r in slower)
        won = sum(r.weight * (r.torch_ms - r.jax_ms) for r in faster)
        worst = ", ".join(f"{r.name} ({r.jax_ms:.2f} vs {r.torch_ms:.2f} ms, "
                          f"x{r.weight}: {r.weight * (r.jax_ms - r.torch_ms):+.1f} ms)"
                          for r in slower[:4])
        lines.append(
            f"- Batch {batch}: measured whole steps take {sj:.0f} ms (JAX) and {st:.0f} ms "
            f"(PyTorch), {st / sj:.2f}x. The layers weighted as a step runs them sum to "
            f"{wj:.0f} ms and {wt:.0f} ms ({wt / wj:.2f}x); the rest of the step (losses, "
            f"gradient norms, random numbers, what running the layers together costs beyond "
            f"running them alone; PyTorch's Python dispatch) is {sj - wj:.0f} ms and "
            f"{st - wt:.0f} ms. JAX is slower on "
            f"{len(slower)} of {len(rows)} rows, losing {lost:.0f} ms per step, chiefly: "
            f"{worst or 'none'}; it is faster on the other {len(faster)}, saving {won:.0f} ms. "
            + " ".join(f"The layer a rewrite replaced, {r.name[1:-1]}, takes {r.jax_ms:.2f} ms "
                       f"in JAX ({r.speedup:.2f}x PyTorch)." for r in plain))
    step = split["step: lowering"] + split["step: XLA compile"]
    parts = {k.rsplit(":", 1)[0] for k in split if not k.startswith("step")}
    part_total = {p: split[f"{p}: lowering"] + split[f"{p}: XLA compile"] for p in parts}
    biggest = max(part_total, key=part_total.get)
    lines.append(
        f"- Compile: {step:.1f} s for the batch-64 step, {split['step: lowering']:.1f} s "
        f"lowering and {split['step: XLA compile']:.1f} s XLA compile; compiled alone, "
        + ", ".join(f"{p} takes {t:.1f} s" for p, t in sorted(part_total.items()))
        + f" ({biggest} the most).")
    lines.append("")
    return lines


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--cache-probe":
        _cache_probe_child(sys.argv[2])
        return
    host.retain_freed_memory()
    torch.set_num_threads(os.cpu_count() or 1)
    rows = {}
    for batch in (64, 256):
        rows[batch] = layer_times(batch)
        for r in rows[batch]:
            print(f"B={batch} {r.name}: JAX {r.jax_ms:.2f} ms, PyTorch {r.torch_ms:.2f} ms, "
                  f"{r.speedup:.2f}x", flush=True)
    print(compile_split())
    print(cache_probe())


if __name__ == "__main__":
    main()
