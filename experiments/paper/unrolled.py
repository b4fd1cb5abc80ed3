"""The unrolled GAN on its papers' own toy protocols, beside gan_jax's settings.

Metz et al., "Unrolled Generative Adversarial Networks", ICLR 2017 (Sec. 3.1, Fig. 1 and
Appendix A), and Srivastava et al., "VEEGAN", NeurIPS 2017 (Sec. 5.1, Table 1), which runs the
unrolled GAN "with five unrolling steps as suggested in the authors' reference implementation"
(the notebook ``Unrolled GAN demo.ipynb`` of github.com/poolio/unrolled_gan). Three protocols:

* ``veegan2017``: the reference notebook's settings, the ones VEEGAN ran: G and D are MLPs with
  2 hidden layers of 128 tanh units, orthogonal initialisation with gain 1.4 and zero biases;
  z ~ N(0, I_256); batch 512; Adam(b1 = 0.5, eps = 1e-8) with learning rate 1e-3 for G and
  1e-4 for D; K = 5; 25,000 iterations, each a simultaneous update (D's step and G's step are
  both taken from the same (G, D) on the same real batch and the same latents, and those
  also feed all K unrolled D steps); G minimises -f(theta, psi_K(theta)), f the whole
  cross-entropy saddle objective, real term included. VEEGAN's data: the ring of 8 with
  radius 2, std 0.02 (the notebook's own ring has radius 1, std 0.01, and a duplicated
  mode) and the grid of 25 on {-4, ..., 4}^2 with std 0.05; 2,500 samples, five runs.
* ``metz2017``: the paper's Appendix A: G with 2 hidden layers of 128 ReLU units, orthogonal
  initialisation with gain 0.8; D scales its input by 1/4, then 1 hidden layer of 128 ReLU
  units; z ~ N(0, I_256); Adam(1e-4, b1 = 0.5) for both; K = 10 (Fig. 1's top row);
  alternating updates; the ring of 8 with radius 2, std 0.02. Batch 512 and 25,000
  iterations follow the notebook (Fig. 1 shows the generator up to about that many steps).
* ``gan_jax``: gan_jax's own settings in ``mode_collapse`` (ReLU / leaky-ReLU MLPs of 2 x 128,
  lecun-normal initialisation, z in R^2, batch 256, Adam(1e-3, b1 = 0.5) for both, K = 5, the
  non-saturating G loss without the real term, a fresh generated batch for each unrolled D
  step, alternating updates, the ring at half scale). Its numbers are read from the
  records of ``mode_collapse`` (1,000 steps) and ``mode_collapse_long`` (10,000 steps on the
  grid), which train with gan_jax.steps itself.

The protocols are trained by a small pure-JAX trainer here (tanh, orthogonal initialisation,
simultaneous updates and the shared unrolling batch are not options of gan_jax's train step);
its unrolled loss is the same construction as gan_jax.steps.g_loss_fn: K steps of D's own
optax optimizer, state included, differentiated through. tests/test_paper_unrolled.py
checks both against a closed form. Ablations on the grid, each one change to ``veegan2017``:
no second-order term (psi_K(theta) held fixed when differentiating), K = 0, K = 10, gan_jax's
learning rates, gan_jax's networks. The mode statistics are those of gan_jax.eval.modes
(high quality within 3 std of the nearest mode; a mode is captured when a high-quality
sample is nearest to it), also taken along each run.

What the committed record shows (3 seeds; the main cells and D's learning rate on the grid on
the protocols' whole 25,000 iterations, the other grid ablations at 2,000, each read beside
the main grid cell at its own step):

* The gradient is right: gan_jax's unrolled G gradient and this trainer's match closed forms
  with and without the second term (tests/test_paper_unrolled.py), so the gap is protocol.
* Ring: veegan2017 holds all 8 modes from 2,500 iterations on and concentrates slowly, 5% high
  quality at 2,500, 44% at 6,500, 88% at 25,000 (VEEGAN: 7.6 modes, 35.6%). metz2017 (lr 1e-4
  for G, K = 10) is a diffuse cloud for thousands of iterations, holds all 8 modes from 7,500
  on, reaches 83% high quality at 25,000: the spread-out generator of Metz et al.'s Fig. 1.
  The ring is reproduced; its high-quality share exceeds VEEGAN's.
* Grid, veegan2017 (the notebook's settings): 19.7 modes with 2.7% high quality at 25,000
  (VEEGAN: 23.6 at 16%). After 2,000 iterations the count moves between 18 and 23 and the
  high-quality share stays between 1.3% and 2.7%; a cloud over the square scores the same
  (20.7 modes, 1.8%, ``uniform_grid_baseline``). Seed 0's samples gather on horizontal bands
  through the grid's rows but spread along them: the generator has learnt the grid's extent
  and some of its rows, not its modes.
* Grid, what closes the gap: D's learning rate. The notebook trains D at 1e-4 against G's
  1e-3; with D at 1e-3 (``gan_jax_lr``, also 25,000 iterations) the grid concentrates, 23.3
  modes at 50% high quality at 5,000, then drops modes while sharpening, 16.0 at 70% at
  25,000. metz2017 on the grid (both at 1e-4, K = 10, the 1-layer D) is closest to VEEGAN's
  row: 21.7 modes with 12.6% high quality at 25,000, its share still rising (1.7% at 9,000,
  6.0% at 21,000); seed 0's samples lie along the grid's outer and middle rows and columns,
  densest at the modes. So VEEGAN's 23.6 at 16% sits between the two learning-rate regimes;
  which settings VEEGAN ran beyond "five unrolling steps" is not published.
* What separates veegan2017 from gan_jax's 9.7 modes (ablations at 2,000, where veegan2017 has
  19.0 modes, 1.7%): K = 0 drops it to 10.7 (unrolling is what spreads G), while removing the
  second-order term (20.7), gan_jax's networks (18.3, 4.3%) or its objective and update order
  (18.7) each change little at that length; all of gan_jax's settings together give 13.0 with
  6.2% high quality, gan_jax's own regime (9.3 at 1,000 steps, 9.7 at 10,000): no single
  setting closes that gap, their combination does.

Run time: 9,653 CPU seconds for all cells (``numbers.cpu``; the 25,000-iteration cells 1,100
to 2,390 each), trained over two sessions at idle priority on 2 CPU cores shared with other
work, so the wall times in the record (7.7 h summed) are mostly waiting; the record's run time
is the sum of the cells' wall times. Resumable: each cell saves its state under
``<out>/unrolled_parts/`` after every evaluation and continues from it;
``--cells A,B`` trains cells (background workers), ``--saved_only`` writes the record.

    python -m experiments.paper.unrolled [--out DIR] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import pickle
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from matplotlib.figure import Figure

from experiments.paper import common
from gan_jax import host, plotting
from gan_jax.data import synthetic
from gan_jax.eval import modes

ACTIVATIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu,
               "leaky_relu": lambda h: jax.nn.leaky_relu(h, 0.2)}


@dataclasses.dataclass(frozen=True)
class Protocol:
    """One unrolled-GAN training protocol on a 2-D mixture."""

    source: str
    unroll_steps: int = 5
    latent_dim: int = 256
    batch: int = 512
    hidden: int = 128
    g_depth: int = 2
    d_depth: int = 2
    g_act: str = "tanh"
    d_act: str = "tanh"
    init: str = "orthogonal"          # "orthogonal" (gain below) or "lecun" (flax's default)
    g_gain: float = 1.4
    d_gain: float = 1.4
    d_input_scale: float = 1.0
    g_lr: float = 1e-3
    d_lr: float = 1e-4
    b1: float = 0.5
    update: str = "simultaneous"      # or "alternating": D's step, then G's on fresh draws
    # G's loss against D_K: "saddle" (-f, the real term included) or "nonsaturating"
    # (-log D_K(G(z)), gan_jax's)
    g_objective: str = "saddle"
    second_order: bool = True         # False: psi_K(theta) held fixed in G's gradient
    ring_radius: float = 2.0
    ring_std: float = 0.02
    num_steps: int = 25_000


VEEGAN2017 = Protocol(
    source="VEEGAN Sec. 5.1: the unrolled GAN of the reference notebook (poolio/unrolled_gan), "
           "K = 5; notebook: tanh 2x128 G and D, orthogonal init gain 1.4, z in R^256, batch "
           "512, Adam G 1e-3 / D 1e-4 b1 0.5, 25,000 simultaneous iterations")
METZ2017 = Protocol(
    source="Metz et al. 2017 Appendix A and Fig. 1: ReLU G 2x128 (orthogonal gain 0.8), D "
           "input / 4 then 1x128 ReLU, z in R^256, Adam 1e-4 b1 0.5 for both, alternating "
           "updates, K = 10; batch 512 and 25,000 iterations from the notebook",
    unroll_steps=10, d_depth=1, g_act="relu", d_act="relu", g_gain=0.8, d_gain=0.8,
    d_input_scale=0.25, g_lr=1e-4, d_lr=1e-4, update="alternating")
PROTOCOLS = {"veegan2017": VEEGAN2017, "metz2017": METZ2017}

# (protocol, dataset, ablation) cells; an ablation is a set of changes to the protocol.
ABLATIONS = {
    "first_order": ("no second-order term", {"second_order": False}),
    "k0": ("K = 0 (plain GAN)", {"unroll_steps": 0}),
    "gan_jax_lr": ("Adam 1e-3 for both (gan_jax)", {"d_lr": 1e-3}),
    "gan_jax_nets": ("gan_jax's networks (ReLU / leaky ReLU, lecun init, z in R^2, batch 256)",
                     {"g_act": "relu", "d_act": "leaky_relu", "init": "lecun",
                      "latent_dim": 2, "batch": 256}),
    "gan_jax_objective": ("gan_jax's G objective and order (non-saturating, alternating)",
                          {"g_objective": "nonsaturating", "update": "alternating"}),
    "gan_jax_all": ("all of gan_jax's settings but the shared unrolling batch",
                    {"g_act": "relu", "d_act": "leaky_relu", "init": "lecun",
                     "latent_dim": 2, "batch": 256, "d_lr": 1e-3,
                     "g_objective": "nonsaturating", "update": "alternating"}),
}
CELLS = ([("veegan2017", "ring8", None), ("veegan2017", "grid25", None),
          ("metz2017", "ring8", None), ("metz2017", "grid25", None)]
         + [("veegan2017", "grid25", a) for a in ABLATIONS])
SEEDS = (0, 1, 2)
# The grid ablations stop at NUM_STEPS of the protocols' 25,000 iterations (a K = 5 step of
# three seeds costs about 0.1 CPU second, the record's ``cpu``); each is read against the
# main grid cell's curve at the same step.
NUM_STEPS = 2_000
# The main cells run the protocols' whole schedule, and so does D's learning rate on the grid.
CELL_STEPS = {"veegan2017-grid25": 25_000, "veegan2017-ring8": 25_000, "metz2017-ring8": 25_000,
              "metz2017-grid25": 25_000, "veegan2017-grid25-gan_jax_lr": 25_000}
EVAL_EVERY = 500
NUM_SAMPLES = 2500
QUICK = {"num_steps": 40, "batch": 64, "latent_dim": 16, "hidden": 32, "unroll_steps": 1}
QUICK_CELLS = [("veegan2017", "ring8", None), ("metz2017", "ring8", None)]

# VEEGAN Table 1 (five runs, 2,500 samples): modes captured and the high-quality share, as
# printed in the paper and on its project page (github.com/akashgit/VEEGAN, tab.png).
PAPER = {
    "ring8": {"GAN": {"modes_captured": 1.0, "high_quality": 0.993},
              "Unrolled GAN": {"modes_captured": 7.6, "high_quality": 0.356},
              "VEEGAN": {"modes_captured": 8.0, "high_quality": 0.529}},
    "grid25": {"GAN": {"modes_captured": 3.3, "high_quality": 0.005},
               "Unrolled GAN": {"modes_captured": 23.6, "high_quality": 0.16},
               "VEEGAN": {"modes_captured": 24.6, "high_quality": 0.40}},
}
METZ_PAPER = ("Metz et al. 2017 Fig. 1: with 10 unrolling steps the generator spreads over "
              "all 8 modes of the ring; without unrolling it visits one mode after another "
              "(a figure, no count)")


def mixture_of(protocol: Protocol, dataset: str) -> synthetic.Mixture:
    """The data of a cell: the ring at the protocol's scale, or the grid of 25 (std 0.05)."""
    if dataset == "ring8":
        return synthetic.ring(8, protocol.ring_radius, protocol.ring_std)
    if dataset == "grid25":
        return synthetic.grid(5, 2.0, 0.05)
    raise ValueError(f"dataset={dataset!r} is not a toy of this protocol; allowed: ring8, grid25")


def _init_mlp(key, sizes: list[int], init: str, gain: float) -> list[dict]:
    """Dense layers [{"w": [n_in, n_out], "b": [n_out]}] for ``sizes`` = [in, ..., out]."""
    if init == "orthogonal":
        kernel = jax.nn.initializers.orthogonal(scale=gain)
    elif init == "lecun":
        kernel = jax.nn.initializers.lecun_normal()
    else:
        raise ValueError(f"init={init!r} is not known; allowed: orthogonal, lecun")
    keys = jax.random.split(key, len(sizes) - 1)
    return [{"w": kernel(k, (n_in, n_out), jnp.float32), "b": jnp.zeros((n_out,), jnp.float32)}
            for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:], strict=True)]


def _mlp(params: list[dict], x: jax.Array, act: str) -> jax.Array:
    """Hidden layers with ``act``, linear output layer."""
    for layer in params[:-1]:
        x = ACTIVATIONS[act](x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def init_params(protocol: Protocol, key: jax.Array) -> tuple[list, list]:
    """(G's, D's) parameters of one seed."""
    g_key, d_key = jax.random.split(key)
    p = protocol
    g = _init_mlp(g_key, [p.latent_dim] + [p.hidden] * p.g_depth + [2], p.init, p.g_gain)
    d = _init_mlp(d_key, [2] + [p.hidden] * p.d_depth + [1], p.init, p.d_gain)
    return g, d


def generate(protocol: Protocol, g_params, z: jax.Array) -> jax.Array:
    return _mlp(g_params, z, protocol.g_act)


def discriminate(protocol: Protocol, d_params, x: jax.Array) -> jax.Array:
    return _mlp(d_params, protocol.d_input_scale * x, protocol.d_act)[..., 0]


def saddle(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """D's cross-entropy loss, the saddle objective D minimises and G maximises."""
    return jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(jax.nn.softplus(fake_logits))


def unrolled_objective(d_loss, d_tx: optax.GradientTransformation, k: int,
                       second_order: bool = True):
    """f(theta, psi_K(theta)): ``d_loss(theta, psi)`` after K steps of ``d_tx`` on it.

    psi_K is reached from (psi_0, opt_state_0) by K updates of D's own optimizer, each
    differentiable in theta. ``second_order=False`` stops the gradient through psi_K, so
    d/dtheta keeps only the first term, d_1 f(theta, psi_K). Returns a function
    ``(theta, psi_0, opt_state_0) -> f``.
    """
    def objective(theta, psi, opt_state):
        return d_loss(theta, unrolled_params(d_loss, d_tx, k, second_order)(
            theta, psi, opt_state))
    return objective


def unrolled_params(d_loss, d_tx: optax.GradientTransformation, k: int,
                    second_order: bool = True):
    """psi_K(theta): ``(theta, psi_0, opt_state_0) -> psi_K`` (see unrolled_objective)."""
    def params(theta, psi, opt_state):
        for _ in range(k):
            grads = jax.grad(d_loss, argnums=1)(theta, psi)
            updates, opt_state = d_tx.update(grads, opt_state, psi)
            psi = optax.apply_updates(psi, updates)
        return psi if second_order else jax.lax.stop_gradient(psi)
    return params


def make_train(protocol: Protocol, mixture: synthetic.Mixture):
    """(init, chunk) for one seed: ``init(key) -> state``, ``chunk(state, n) -> state``."""
    p = protocol
    g_tx = optax.adam(p.g_lr, b1=p.b1, eps=1e-8)
    # eps_root keeps d sqrt(nu) finite at nu = 0 (the update is unchanged to float precision).
    d_tx = optax.adam(p.d_lr, b1=p.b1, eps=1e-8, eps_root=1e-16)

    def d_loss(g, d, x, z):
        return saddle(discriminate(p, d, x), discriminate(p, d, generate(p, g, z)))

    def g_loss(g, d, d_opt, x, z):
        # G runs once: the unrolled D steps see the same samples, so f is taken as a function
        # of them and the chain rule through G is applied once.
        def f(fake, dd):
            return saddle(discriminate(p, dd, x), discriminate(p, dd, fake))

        def nonsaturating(fake, dd):  # its value is G's loss; D's steps still descend f
            return jnp.mean(jax.nn.softplus(-discriminate(p, dd, fake)))

        fake = generate(p, g, z)
        if p.g_objective == "saddle":
            return -unrolled_objective(f, d_tx, p.unroll_steps, p.second_order)(fake, d, d_opt)
        d_k = unrolled_params(f, d_tx, p.unroll_steps, p.second_order)(fake, d, d_opt)
        return nonsaturating(fake, d_k)

    def draw(key):
        kx, kz = jax.random.split(key)
        return synthetic.sample_batch(mixture, kx, p.batch), jax.random.normal(
            kz, (p.batch, p.latent_dim), jnp.float32)

    def step(state, _):
        g, d, g_opt, d_opt, key = state
        key, k1, k2 = jax.random.split(key, 3)
        x, z = draw(k1)
        d_grads = jax.grad(d_loss, argnums=1)(g, d, x, z)
        d_updates, d_opt_new = d_tx.update(d_grads, d_opt, d)
        d_new = optax.apply_updates(d, d_updates)
        if p.update == "alternating":
            x, z = draw(k2)
            g_grads = jax.grad(g_loss)(g, d_new, d_opt_new, x, z)
        else:
            g_grads = jax.grad(g_loss)(g, d, d_opt, x, z)
        g_updates, g_opt = g_tx.update(g_grads, g_opt, g)
        return (optax.apply_updates(g, g_updates), d_new, g_opt, d_opt_new, key), None

    def init(key):
        g, d = init_params(p, jax.random.fold_in(key, 0))
        return (g, d, g_tx.init(g), d_tx.init(d), jax.random.fold_in(key, 1))

    def chunk(state, n):
        return jax.lax.scan(step, state, None, length=n)[0]

    return init, chunk


def train_cell(protocol: Protocol, dataset: str, seeds, eval_every: int,
               resume_path: str | None = None, max_steps: int | None = None) -> dict:
    """Trains ``seeds`` at once (vmapped); mode statistics every ``eval_every`` steps.

    With ``resume_path`` the states, the statistics so far and the CPU time are saved there
    after every evaluation and read back when it exists; ``max_steps`` stops early (the
    result's ``steps_done`` says where).
    """
    if protocol.update not in ("simultaneous", "alternating"):
        raise ValueError(f"update={protocol.update!r} is not known; allowed: simultaneous, "
                         "alternating")
    mixture = mixture_of(protocol, dataset)
    init, chunk = make_train(protocol, mixture)
    states = jax.vmap(init)(jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds]))
    curve, done, cpu, wall = [], 0, 0.0, 0.0
    if resume_path and os.path.exists(resume_path):
        with open(resume_path, "rb") as f:
            saved = pickle.load(f)
        states = jax.tree.map(jnp.asarray, saved["states"])
        curve, done, cpu, wall = saved["curve"], saved["done"], saved["cpu"], saved["wall"]
    eval_z = jax.random.normal(jax.random.PRNGKey(12345), (NUM_SAMPLES, protocol.latent_dim))
    run_chunk = jax.jit(jax.vmap(chunk, in_axes=(0, None)), static_argnums=1)
    sample = jax.jit(jax.vmap(lambda g: generate(protocol, g, eval_z)))
    stop = protocol.num_steps if max_steps is None else min(max_steps, protocol.num_steps)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while done < stop:
        n = min(eval_every, protocol.num_steps - done)
        states = run_chunk(states, n)
        done += n
        x = np.asarray(sample(states[0]))
        curve.append({"step": done, **{str(s): modes.mode_stats(x[i], mixture)
                                       for i, s in enumerate(seeds)}})
        if resume_path:
            saved = {"states": jax.device_get(states), "curve": curve, "done": done,
                     "cpu": cpu + time.process_time() - cpu0,
                     "wall": wall + time.perf_counter() - wall0}
            with open(resume_path + ".tmp", "wb") as f:
                pickle.dump(saved, f)
            os.replace(resume_path + ".tmp", resume_path)
    x = np.asarray(sample(states[0]))
    return {"final": curve[-1], "curve": curve, "samples_seed0": x[0], "steps_done": done,
            "cpu_seconds": round(cpu + time.process_time() - cpu0, 1),
            "wall_seconds": round(wall + time.perf_counter() - wall0, 1)}


def _summary(per_seed: list[dict]) -> dict:
    out = {}
    for m in ("modes_captured", "high_quality", "reverse_kl"):
        a = np.asarray([s[m] for s in per_seed], np.float64)
        out[m] = {"mean": float(a.mean()),
                  "sem": float(a.std(ddof=1) / np.sqrt(len(a))) if len(a) > 1 else 0.0}
    return out


def cell_name(protocol: str, dataset: str, ablation: str | None) -> str:
    return f"{protocol}-{dataset}" + (f"-{ablation}" if ablation else "")


def run_cell(protocol_name: str, dataset: str, ablation: str | None, seeds, quick: bool,
             parts_dir: str, max_steps: int | None = None) -> dict:
    """One cell, read back from ``parts_dir`` when an earlier run finished it; an unfinished
    one resumes from its saved state there (``max_steps`` = 0: only reads what is saved)."""
    name = cell_name(protocol_name, dataset, ablation)
    path = os.path.join(parts_dir, f"{name}.json")
    state_path = None if quick else os.path.join(parts_dir, f"{name}.state.pkl")
    target = CELL_STEPS.get(name, NUM_STEPS)
    if not quick and os.path.exists(path):
        with open(path) as f:
            cell = json.load(f)
        if cell["steps_done"] >= target or (max_steps == 0 and not os.path.exists(state_path)):
            return cell
    protocol = PROTOCOLS[protocol_name]
    if ablation:
        protocol = dataclasses.replace(protocol, **ABLATIONS[ablation][1])
    protocol = dataclasses.replace(protocol, **(QUICK if quick else {"num_steps": target}))
    eval_every = protocol.num_steps if quick else EVAL_EVERY
    os.makedirs(parts_dir, exist_ok=True)
    if max_steps == 0 and not (state_path and os.path.exists(state_path)):
        return None
    result = train_cell(protocol, dataset, seeds, eval_every, state_path, max_steps)
    per_seed = [result["final"][str(s)] for s in seeds]
    cell = {"protocol": protocol_name, "dataset": dataset, "ablation": ablation,
            "settings": dataclasses.asdict(protocol), "seeds": list(seeds),
            "per_seed": {str(s): v for s, v in zip(seeds, per_seed, strict=True)},
            **_summary(per_seed),
            "curve": [{"step": c["step"], **_summary([c[str(s)] for s in seeds])}
                      for c in result["curve"]],
            "steps_done": result["steps_done"],
            "cpu_seconds": result["cpu_seconds"], "wall_seconds": result["wall_seconds"],
            "samples_seed0": np.asarray(result["samples_seed0"]).round(4).tolist()}
    if not quick:
        with open(path + ".tmp", "w") as f:
            json.dump(common._plain(cell), f)
        os.replace(path + ".tmp", path)
    return cell


def gan_jax_variant() -> dict:
    """gan_jax's own unrolled runs, read from the committed mode_collapse records."""
    out = {}
    for record, datasets in (("mode_collapse", ("ring8", "grid25")),
                             ("mode_collapse_long", ("grid25",))):
        path = os.path.join(common.RESULTS_DIR, f"{record}.json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            rec = json.load(f)
        steps = rec["numbers"]["settings"]["num_steps"]
        for d in datasets:
            cell = rec["numbers"]["table"][d]["unrolled"]
            out[f"{d}, {steps:,} steps ({record})"] = {
                m: cell[m]["mean"] for m in ("modes_captured", "high_quality", "reverse_kl")}
    return out


# How gan_jax's settings differ from veegan2017 (the notebook's), one line each.
DIFFERENCES = [
    "networks: gan_jax ReLU G / leaky-ReLU D, lecun-normal init; notebook tanh both, "
    "orthogonal init gain 1.4",
    "latent: gan_jax z in R^2; notebook z in R^256",
    "batch: gan_jax 256; notebook 512",
    "learning rates: gan_jax Adam 1e-3 for G and D; notebook 1e-3 for G, 1e-4 for D",
    "G objective: gan_jax non-saturating -log D_K(G(z)), fake term only; notebook the whole "
    "saddle objective f(theta, psi_K) (minimax, the real term included, which depends on "
    "theta through psi_K)",
    "unrolling batch: gan_jax draws a fresh generated batch for each unrolled D step; the "
    "notebook reuses the step's one real batch and one latent batch",
    "update order: gan_jax alternating (D, then G against the new D); notebook simultaneous",
    "schedule: gan_jax 1,000 (mode_collapse) or 10,000 (mode_collapse_long) steps; notebook "
    "25,000 iterations",
    "ring scale: gan_jax radius 1, std 0.01; VEEGAN and Metz radius 2, std 0.02 (the same "
    "shape; the grid is the same in both)",
]


def uniform_grid_baseline(seed: int = 0) -> dict:
    """Mode statistics of 2,500 draws uniform on [-5, 5]^2, a generator that has learnt the
    grid's extent and nothing of its modes; and their expectation: each mode's 3-std disc
    (radius 0.15) holds 2,500 pi 0.15^2 / 100 samples on average, so 25 (1 - exp(-that))
    modes are captured and pi 0.15^2 / 4 of the samples are high quality."""
    x = np.random.default_rng(seed).uniform(-5.0, 5.0, (NUM_SAMPLES, 2))
    per_mode = NUM_SAMPLES * np.pi * 0.15 ** 2 / 100.0
    return {"sampled": modes.mode_stats(x, synthetic.grid(5, 2.0, 0.05)),
            "expected": {"modes_captured": 25 * (1 - np.exp(-per_mode)),
                         "high_quality": 25 * np.pi * 0.15 ** 2 / 100.0}}


def notes(table: dict) -> dict:
    """What each change does on the grid (ablations against veegan2017) and the counts
    along each run, from the numbers of ``table``."""
    def stats(t):
        return (f"{t['modes_captured']['mean']:.1f} modes, "
                f"{100 * t['high_quality']['mean']:.1f}% HQ")

    reading = __doc__.split("What the committed record shows")[1].split("Run time:")[0]
    out: dict = {"reading": " ".join(("What the committed record shows" + reading).split()),
                 "gan_jax_vs_veegan2017": DIFFERENCES}
    base = table.get("veegan2017-grid25")
    if base is not None:
        at_step = {c["step"]: c for c in base["curve"]}

        def beside(t):  # veegan2017 at the ablation's own step
            b = at_step.get(t["steps_done"])
            return (f"veegan2017 at {t['steps_done']:,}: {stats(b)}" if b is not None
                    else f"veegan2017 at {base['steps_done']:,}: {stats(base)}")

        out["ablations_on_grid25"] = {
            a: f"{label}: {stats(table[n])} ({beside(table[n])})"
            for a, (label, _) in ABLATIONS.items()
            if (n := cell_name("veegan2017", "grid25", a)) in table}
    out["modes_along_the_run"] = {
        n: {str(c["step"]): round(c["modes_captured"]["mean"], 2) for c in t["curve"]}
        for n, t in table.items()}
    return out


def _draw(path: str, cells: list[dict], title: str) -> None:
    cols = min(4, len(cells))
    rows = -(-len(cells) // cols)
    fig = Figure(figsize=(3.1 * cols, 3.6 * rows), dpi=90)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, cell in zip(axes, cells, strict=False):
        protocol = PROTOCOLS[cell["protocol"]]
        if cell["ablation"]:
            protocol = dataclasses.replace(protocol, **ABLATIONS[cell["ablation"]][1])
        mixture = mixture_of(protocol, cell["dataset"])
        lo, hi = plotting._limits(mixture)
        density = plotting._density_image(mixture, lo, hi, res=160)
        plotting._draw_toy(ax, np.asarray(cell["samples_seed0"]), mixture, lo, hi, density,
                           legend=False)
        stats = cell["per_seed"][str(cell["seeds"][0])]
        label = cell["protocol"] + (f" / {cell['ablation']}" if cell["ablation"] else "")
        ax.set_title(f"{label}, {cell['dataset']}\n{cell['steps_done']:,} iterations: "
                     f"{stats['modes_captured']:.0f} modes, {100 * stats['high_quality']:.0f}% HQ",
                     fontsize="small")
        ax.tick_params(labelsize="x-small")
    for ax in axes[len(cells):]:
        ax.axis("off")
    fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    fig.savefig(path)


def run(out_dir: str, quick: bool = False, saved_only: bool = False) -> dict:
    """Every cell of CELLS (quick: QUICK_CELLS, shrunk), the table, the checks, the figure.

    ``saved_only``: train nothing; the record holds the cells as far as they are saved in
    ``<out_dir>/unrolled_parts/`` (``steps_done`` of each) and lists those not started.
    """
    os.makedirs(out_dir, exist_ok=True)
    seeds = list(SEEDS[:2] if quick else SEEDS)
    parts_dir = os.path.join(out_dir, "unrolled_parts")
    todo = QUICK_CELLS if quick else CELLS
    found = [run_cell(p, d, a, seeds, quick, parts_dir, 0 if saved_only else None)
             for p, d, a in todo]
    cells = [c for c in found if c is not None]
    not_started = [cell_name(*t) for t, c in zip(todo, found, strict=True) if c is None]
    table = {cell_name(c["protocol"], c["dataset"], c["ablation"]):
             {k: c[k] for k in ("protocol", "dataset", "ablation", "modes_captured",
                                "high_quality", "reverse_kl", "per_seed", "curve",
                                "steps_done", "cpu_seconds", "wall_seconds", "settings")}
             for c in cells}
    _draw(os.path.join(out_dir, "unrolled.png"), cells,
          f"Unrolled GAN, seed {seeds[0]}: 2,500 samples over the data density")
    finite = all(np.isfinite(c[m]["mean"]) for c in cells
                 for m in ("modes_captured", "high_quality", "reverse_kl"))
    checks = {"every table entry is finite": finite}

    def cell(name):
        t = table[name]
        return (f"{t['modes_captured']['mean']:.1f}+-{t['modes_captured']['sem']:.1f} modes, "
                f"{100 * t['high_quality']['mean']:.0f}% HQ at {t['steps_done']:,} iterations")

    main = [n for n in table if table[n]["ablation"] is None]
    return {
        "title": "Metz et al. 2017 unrolled GAN on its own protocols (metz2017, veegan2017)",
        "paper": "VEEGAN Tab. 1 unrolled GAN: ring 7.6 of 8 modes, 35.6% HQ; grid 23.6 of 25, "
                 "16% HQ; Metz Fig. 1: all 8 ring modes with K = 10",
        "ours": f"mean+-sem over {len(seeds)} seeds: "
                + "; ".join(f"{n} {cell(n)}" for n in main),
        "numbers": {
            "table": table,
            "gan_jax_variant": gan_jax_variant(),
            "paper_veegan_table1": PAPER,
            "paper_metz2017": METZ_PAPER,
            "protocols": {n: {"source": p.source, **dataclasses.asdict(p)}
                          for n, p in PROTOCOLS.items()},
            "ablations": {a: {"label": lab, "changes": ch} for a, (lab, ch) in ABLATIONS.items()},
            "cpu": {n: {"cpu_seconds": t["cpu_seconds"], "wall_seconds": t["wall_seconds"]}
                    for n, t in table.items()},
            "cpu_seconds_all_cells": round(sum(t["cpu_seconds"] for t in table.values()), 1),
            "wall_seconds_all_cells": round(sum(t["wall_seconds"] for t in table.values()), 1),
            "notes": notes(table),
            "uniform_grid_baseline": uniform_grid_baseline(),
            "cells_not_started": not_started,
            "evaluation": {"samples": NUM_SAMPLES, "high_quality_std": 3.0, "min_count": 1,
                           "eval_every": EVAL_EVERY, "seeds": seeds},
        },
        "checks": checks,
        "tolerances": {},
    }


def main(argv: list[str] | None = None) -> None:
    """The record (``--out``, ``--quick`` as every reproduction), or with ``--cells`` only
    the training of those cells (resumable; for background workers), or with
    ``--saved_only`` the record of what is saved so far."""
    parser = argparse.ArgumentParser(prog="python -m experiments.paper.unrolled",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=common.RESULTS_DIR)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cells", default="",
                        help="comma-separated cells to train, e.g. veegan2017-grid25,"
                             "veegan2017-grid25-k0; allowed: "
                             + ", ".join(cell_name(*c) for c in CELLS))
    parser.add_argument("--saved_only", action="store_true",
                        help="train nothing; write the record from the saved cells")
    args = parser.parse_args(argv)
    if args.cells:
        known = {cell_name(*c): c for c in CELLS}
        wanted = args.cells.split(",")
        bad = [w for w in wanted if w not in known]
        if bad:
            parser.error(f"--cells: unknown cell {bad[0]!r}; allowed: {', '.join(known)}")
        for w in wanted:
            cell = run_cell(*known[w], list(SEEDS), False,
                            os.path.join(args.out, "unrolled_parts"))
            print(f"{w}: {cell['modes_captured']['mean']:.1f} modes, "
                  f"{100 * cell['high_quality']['mean']:.1f}% HQ, {cell['cpu_seconds']} CPU s",
                  flush=True)
        return
    if args.saved_only or args.quick:
        host.quiet_tensorflow()
        record = common.execute(functools.partial(run, saved_only=args.saved_only),
                                "unrolled", args.out, quick=args.quick)
        if args.saved_only:  # the run time is the cells', not this assembly's
            record["runtime_s"] = record["numbers"]["wall_seconds_all_cells"]
            common.write_record({k: v for k, v in record.items()
                                 if k not in ("name", "command", "quick", "runtime_s")},
                                args.out, "unrolled", False, record["runtime_s"])
        print(f"{record['title']}: {record['ours']}")
        return
    common.main(run, __doc__, argv)


if __name__ == "__main__":
    main()
