"""Goodfellow et al. 2014, Figure 1 and Theorem 1, in 1-D.

Figure 1 of "Generative Adversarial Nets" (NeurIPS 2014) draws the data density (black
dots), the generator's density p_g (green) and the discriminator D (blue dashes) as training
proceeds: D approaches D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Proposition 1), G moves p_g
onto p_data, and at the end D = 1/2 everywhere. Theorem 1: at D*, the value function is
V(D*, G) = -log 4 + 2 JSD(p_data || p_g).

Two parts, both with the library's pieces:

* Theorem 1. G fixed and affine, G(z) = a + b z, so p_g = N(a, b^2) in closed form. An MLP
  D is trained alone on the ``minimax`` D loss (the cross-entropy -V); V at the trained D is
  computed by quadrature against both densities and compared with -log 4 + 2 JSD, the JSD
  by adaptive quadrature (scipy.integrate.quad). V(D) <= V(D*) for every D, so the gap is
  D's shortfall from the optimum.
* Figure 1. The config ``experiments/configs/gauss1d.py`` (data N(2, 0.5^2), MLP G and D,
  non-saturating loss, 5 D steps per G step) trained with the library's sharded train step;
  at several steps the panels show p_data, p_g (a Gaussian KDE of 20,000 samples of G), D
  and D* = p_data / (p_data + p_g). The distance of D from D* and from 1/2 is the mean
  absolute difference weighted by (p_data + p_g) / 2 on the grid.

    python -m experiments.paper.goodfellow_fig1 [--out DIR] [--quick]
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from experiments.paper import common, toys
from gan_jax import runs, state as state_lib, steps as steps_lib
from gan_jax.data import synthetic

NAME = "goodfellow_fig1"
CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "configs", "gauss1d.py")
FIXED_G = (1.0, 0.5)  # (a, b) of the affine generator of the Theorem-1 check
# D steps per G step (k of the paper's Algorithm 1): 5 so that D tracks D* closely; the quick
# run's 1 keeps its compiled step small (it trains longer instead).
N_DISC = {False: 5, True: 1}
# |V(D) - (-log 4 + 2 JSD)| (nats); final weighted mean |D - D*| and |D - 1/2|.
TOLERANCE = {False: {"theorem1_abs_gap": 0.01, "final_d_vs_dstar": 0.05, "final_d_vs_half": 0.05},
             True: {"theorem1_abs_gap": 0.03, "final_d_vs_dstar": 0.15, "final_d_vs_half": 0.1}}


def _config(num_steps: int, n_disc: int):
    config = runs.load_config(CONFIG)
    config.num_steps = num_steps
    config.n_disc = n_disc
    config.progress_bar = False
    return config


def _fixed_g_sample(_, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """Data N(2, 0.5^2) (the config's) and the affine G's samples a + b z; both [n, 1]."""
    k_real, k_z = jax.random.split(key)
    a, b = FIXED_G
    return 2.0 + 0.5 * jax.random.normal(k_real, (n, 1)), a + b * jax.random.normal(k_z, (n, 1))


def theorem1(x: np.ndarray, quick: bool) -> dict:
    """D trained alone against the fixed affine G; V(D) vs -log 4 + 2 JSD."""
    module, params = toys.train_discriminators(
        "minimax", _fixed_g_sample, jnp.zeros((1,)), steps=400 if quick else 2000,
        batch=256 if quick else 512, lr=1e-3, seed=3)
    logits = toys.scores(module, params, x[:, None])[0]
    p_data, p_g = toys.normal_pdf(x, 2.0, 0.5), toys.normal_pdf(x, *FIXED_G)
    value = float(toys.value_of_d(logits, logits, p_data, p_g, x))
    jsd = toys.jsd(lambda y: toys.normal_pdf(y, 2.0, 0.5), lambda y: toys.normal_pdf(y, *FIXED_G),
                   -12.0, 12.0)
    return {"value_trained_d": value, "jsd": jsd, "value_theory": -toys.LOG4 + 2.0 * jsd,
            "d": jax.nn.sigmoid(logits), "d_star": p_data / (p_data + p_g), "p_g": p_g}


def training(x: np.ndarray, num_steps: int, snapshots: list[int], n_disc: int,
             num_samples: int) -> list[dict]:
    """Trains the gauss1d config; at each snapshot step: p_g (KDE of ``num_samples`` samples of
    G), D and D* on the grid x."""
    config = _config(num_steps, n_disc)
    source, gan = runs.build(config)
    mesh = steps_lib.make_mesh(jax.devices()[:1])
    # One compiled init rather than flax's op-by-op eager one (seconds of dispatch on a CPU).
    state = jax.jit(lambda seed: state_lib.init_state(gan, seed))(config.seed)
    state = jax.device_put(state, steps_lib.replicated(mesh))
    mixture = source.mixture
    train_step = steps_lib.parallelize(gan, mesh, config.batch_size, source.sample)
    z = jax.random.normal(jax.random.PRNGKey(7), (num_samples, gan.latent_dim))
    generate = jax.jit(lambda s: gan.g_apply(s.g_params, s.g_batch_stats, z))
    discriminate = jax.jit(lambda s: jax.nn.sigmoid(gan.d_apply(
        s.d_params, s.d_batch_stats, jnp.asarray(x[:, None], jnp.float32))))
    p_data = np.exp(np.asarray(synthetic.log_density(mixture, x[:, None]), np.float64))
    frames = []
    for step in range(num_steps + 1):
        if step in snapshots:
            samples = np.asarray(generate(state), np.float64)[:, 0]
            p_g = stats.gaussian_kde(samples)(x)
            d = np.asarray(discriminate(state), np.float64)
            d_star = p_data / np.maximum(p_data + p_g, 1e-300)
            weight = 0.5 * (p_data + p_g)
            frames.append({
                "step": step, "p_g": p_g, "d": d, "d_star": d_star,
                "d_vs_dstar": float(toys.grid_mean(np.abs(d - d_star), weight, x)),
                "d_vs_half": float(toys.grid_mean(np.abs(d - 0.5), weight, x)),
                "g_mean": float(samples.mean()), "g_std": float(samples.std())})
        if step < num_steps:
            state, _ = train_step(state, None)
    return frames


def run(out_dir: str, quick: bool = False) -> dict:
    os.makedirs(out_dir, exist_ok=True)
    x = np.linspace(-6.0, 8.0, 2801)
    num_steps = 1000 if quick else 3000
    snapshots = ([0, 100, num_steps] if quick else [0, 100, 300, 1000, num_steps])
    thm = theorem1(x, quick)
    frames = training(x, num_steps, snapshots, N_DISC[quick], 5_000 if quick else 20_000)
    tol = TOLERANCE[quick]
    gap = thm["value_trained_d"] - thm["value_theory"]
    last = frames[-1]
    checks = {
        f"Theorem 1: |V(D) - (-log 4 + 2 JSD)| <= {tol['theorem1_abs_gap']} for the fixed G":
            abs(gap) <= tol["theorem1_abs_gap"],
        f"end of training: D within {tol['final_d_vs_dstar']} of p_data/(p_data+p_g)":
            last["d_vs_dstar"] <= tol["final_d_vs_dstar"],
        f"end of training: D within {tol['final_d_vs_half']} of 1/2 (p_g = p_data)":
            last["d_vs_half"] <= tol["final_d_vs_half"],
    }
    _plot(os.path.join(out_dir, f"{NAME}.png"), x, thm, frames)
    return {
        "title": "Goodfellow et al. 2014, Fig. 1 and Theorem 1 (1-D)",
        "paper": "V(D*, G) = -log 4 + 2 JSD; D -> p_data/(p_data+p_g) -> 1/2",
        "ours": (f"V = {thm['value_trained_d']:.4f} vs {thm['value_theory']:.4f} "
                 f"(|diff| {abs(gap):.4f}); final D within {last['d_vs_dstar']:.3f} of D*, "
                 f"{last['d_vs_half']:.3f} of 1/2"),
        "numbers": {
            "n_disc": N_DISC[quick],
            "theorem1": {"data": [2.0, 0.5], "fixed_g": list(FIXED_G),
                         **{k: thm[k] for k in ("value_trained_d", "jsd", "value_theory")},
                         "gap": gap},
            "training": [{k: f[k] for k in ("step", "d_vs_dstar", "d_vs_half", "g_mean",
                                            "g_std")} for f in frames]},
        "checks": {k: bool(v) for k, v in checks.items()},
        "tolerances": tol,
    }


def _panel(ax, x, p_data, p_g, d, d_star, title: str) -> None:
    """One panel in the paper's colours: data black dots, p_g green, D blue dashes."""
    ax.plot(x[::40], p_data[::40], "k.", ms=3, label="p_data")
    ax.plot(x, p_g, c="tab:green", lw=1.5, label="p_g")
    twin = ax.twinx()
    twin.plot(x, d, c="tab:blue", ls="--", lw=1.5, label="D(x)")
    # D* only where the densities are not both negligible (elsewhere it is 0/0).
    d_star = np.where(p_data + p_g > 1e-3, d_star, np.nan)
    twin.plot(x, d_star, c="tab:gray", lw=0.8, label="p_data/(p_data+p_g)")
    twin.set_ylim(0.0, 1.05)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlim(-3.0, 5.0)
    ax.set_title(title, fontsize="small")
    return twin


def _plot(path, x, thm, frames) -> None:
    p_data = toys.normal_pdf(x, 2.0, 0.5)
    fig = Figure(figsize=(3.2 * (len(frames) + 1), 3.4), dpi=100)
    axes = fig.subplots(1, len(frames) + 1)
    twin = _panel(axes[0], x, p_data, thm["p_g"], thm["d"], thm["d_star"],
                  f"fixed G = N{FIXED_G}, D trained alone\nV = {thm['value_trained_d']:.4f}, "
                  f"-log4+2JSD = {thm['value_theory']:.4f}")
    handles = axes[0].get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    for ax, f in zip(axes[1:], frames, strict=True):
        _panel(ax, x, p_data, f["p_g"], f["d"], f["d_star"],
               f"training step {f['step']}\n|D - D*| = {f['d_vs_dstar']:.3f}, "
               f"|D - 1/2| = {f['d_vs_half']:.3f}")
    axes[0].legend(handles=handles, fontsize="x-small", loc="upper left")
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    common.main(run, __doc__)
