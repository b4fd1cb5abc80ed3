"""f-GAN (Nowozin et al. 2016), Section 4 / Table 3: one Gaussian fitted to a mixture with each
f-divergence.

The model Q_theta is a Gaussian, G(z) = mu + sigma z with z ~ N(0, 1); the data P is a
two-component mixture, so no member of the family equals P and each divergence picks its
own compromise (mean-covering KL, mode-seeking reverse KL, ...). For each divergence of
:data:`gan_jax.losses.F_DIVERGENCES`:

* direct fit: theta* = argmin D_f(P || Q_theta), with D_f = integral of q f(p / q) (the
  library's f, in float64) by Simpson's rule on a fine grid and scipy.optimize (Nelder-Mead
  on (mu, log sigma), several starts, the best kept);
* f-GAN fit: theta-hat from training G and an MLP D on the library's ``fgan_<name>``
  objective. D minimises its ``d_loss`` = -F(T), F(T) = E_P[T] - E_Q[f*(T)], T = g_f(D);
  G minimises F itself (-d_loss), the saddle objective of the paper's eq. 6, updated
  simultaneously with D (the paper's Algorithm 1) with Adam. At the optimal D the G gradient
  is then the gradient of D_f(P || Q_theta) (envelope theorem); the library's ``g_loss``,
  -E_Q[g_f(D)] (the paper's alternative for strong early gradients), has the same fixed
  point only when P is in the model family, which it is not here. theta-hat is the average
  of (mu, |sigma|) over the last quarter of the steps.

Checks: KL's direct fit equals the mixture's mean and standard deviation (moment matching,
to 1e-4); each divergence's direct fit scores lowest under that divergence among all fits,
direct and learned (to 1e-9); the learned fit is within the stated tolerance of the direct
one. The mixture, 0.5 N(0, 1) + 0.5 N(2.5, 0.5^2), is ours: the paper's Table 3 reports its
fits but we could not determine its mixture's parameters from the text.

    python -m experiments.paper.fgan_gaussian [--out DIR] [--quick]
"""

from __future__ import annotations

import functools
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
from matplotlib.figure import Figure
from scipy import optimize, special

from experiments.paper import common, toys
from gan_jax import losses
from gan_jax.data import synthetic

NAME = "fgan_gaussian"
WEIGHTS, MEANS, STDS = (0.5, 0.5), (0.0, 2.5), (1.0, 0.5)
DIVERGENCES = tuple(losses.F_DIVERGENCES)
# |learned - direct| allowed in mu and in sigma (full run, quick run).
TOLERANCE = {False: {"mu": 0.1, "sigma": 0.1}, True: {"mu": 0.2, "sigma": 0.2}}
KL_MOMENT_TOL = 1e-4
D_LR = 1e-3
G_LR = {False: 3e-3, True: 6e-3}  # decayed linearly to a tenth over the run
QUICK_DIVERGENCES = ("kl", "js")
# Learned fits reported but not held to the tolerance, with the reason.
UNCHECKED = {"neyman": "the sampled Neyman bound is dominated by regions where data samples "
                       "are rare (T* = 1 - (q/p)^2 -> -inf); training drifts to sigma near "
                       "sqrt(2), where the divergence itself becomes infinite"}
GRID = np.linspace(-15.0, 18.0, 16501)  # Simpson's rule needs an odd count


def log_mixture(x: np.ndarray) -> np.ndarray:
    """log p(x) [N] of the data mixture, float64."""
    w, m, s = (np.asarray(a, np.float64)[:, None] for a in (WEIGHTS, MEANS, STDS))
    return special.logsumexp(np.log(w) - 0.5 * ((x - m) / s) ** 2
                             - np.log(s * math.sqrt(2.0 * math.pi)), axis=0)


def mixture_moments() -> tuple[float, float]:
    w, m, s = (np.asarray(a, np.float64) for a in (WEIGHTS, MEANS, STDS))
    mean = float(np.sum(w * m))
    return mean, float(math.sqrt(np.sum(w * (s ** 2 + m ** 2)) - mean ** 2))


def _simpson_weights(x: np.ndarray) -> np.ndarray:
    """Weights w [N] with sum(w * y) = Simpson's rule on the uniform grid x (N odd)."""
    w = np.ones_like(x)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return w * (x[1] - x[0]) / 3.0


@functools.cache
def _divergence_fn(name: str):
    """jit (mu, sigma) -> D_f(P || N(mu, sigma^2)), float64; call under enable_x64."""
    f = losses.F_DIVERGENCES[name].f
    with jax.enable_x64(True):
        x, log_p = jnp.asarray(GRID), jnp.asarray(log_mixture(GRID))
        weights = jnp.asarray(_simpson_weights(GRID))

        def value(mu, sigma):
            log_q = -0.5 * ((x - mu) / sigma) ** 2 - jnp.log(sigma * math.sqrt(2.0 * math.pi))
            integrand = jnp.exp(log_q) * f(jnp.exp(log_p - log_q))
            # Overflow means q is negligible where p is not: the divergence is (near) infinite.
            return jnp.where(jnp.all(jnp.isfinite(integrand)), jnp.sum(weights * integrand),
                             jnp.inf)

        return jax.jit(value)


def divergence(name: str, mu: float, sigma: float) -> float:
    """D_f(P || N(mu, sigma^2)) = integral of q f(p/q) dx on GRID (Simpson), with the library's
    f in float64; +inf where the integrand overflows (q negligible where p is not)."""
    with jax.enable_x64(True):
        return float(_divergence_fn(name)(np.float64(mu), np.float64(sigma)))


def direct_fit(name: str) -> tuple[float, float, float]:
    """(mu*, sigma*, D_f at the optimum): Nelder-Mead from several starts, the best kept."""
    mean, std = mixture_moments()
    starts = [(mean, std)] + [(m, s) for m, s in zip(MEANS, STDS, strict=True)]
    best = None
    for mu0, s0 in starts:
        with np.errstate(invalid="ignore"):  # inf - inf among the simplex's values
                res = optimize.minimize(lambda t: divergence(name, t[0], math.exp(t[1])),
                                    [mu0, math.log(s0)], method="Nelder-Mead",
                                    options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 4000})
        if best is None or res.fun < best.fun:
            best = res
    return float(best.x[0]), float(math.exp(best.x[1])), float(best.fun)


def learned_fits(names: tuple[str, ...], steps: int, batch: int, g_lr: float,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """f-GAN training of (mu, sigma) for every divergence; returns [K, 2] (mu, |sigma|) averaged
    over the last quarter of the steps, and the traces [K, steps, 2]."""
    objectives = [losses.get_objective(f"fgan_{n}") for n in names]
    mixture = synthetic.gaussian_mixture_1d(MEANS, STDS, WEIGHTS)
    module = toys.discriminator(hidden=64, depth=2)
    d_tx = optax.adam(D_LR, b1=0.5)
    g_tx = optax.adam(optax.linear_schedule(g_lr, 0.1 * g_lr, steps), b1=0.5)

    def f_objective(index, d_params, theta, real, z):
        # F(T) = -d_loss: D ascends it, G descends it (f-GAN eq. 6).
        fake = (theta[0] + theta[1] * z)[:, None]
        real_scores = module.apply({"params": d_params}, real)
        fake_scores = module.apply({"params": d_params}, fake)
        return -jax.lax.switch(index, [o.d_loss for o in objectives], real_scores,
                               fake_scores)

    def train(index, key):
        d_params = module.init(jax.random.fold_in(key, 0), jnp.zeros((1, 1)))["params"]
        # Start from N(0, 1), not from the answer of any divergence.
        theta = jnp.array([0.0, 1.0], jnp.float32)
        state = (d_params, d_tx.init(d_params), theta, g_tx.init(theta))

        def step(state, t):
            d_params, d_opt, theta, g_opt = state
            k = jax.random.fold_in(jax.random.fold_in(key, 1), t)
            real = synthetic.sample_batch(mixture, jax.random.fold_in(k, 0), batch)
            z = jax.random.normal(jax.random.fold_in(k, 1), (batch,))
            d_grad, g_grad = jax.grad(f_objective, argnums=(1, 2))(index, d_params, theta,
                                                                    real, z)
            d_up, d_opt = d_tx.update(jax.tree.map(jnp.negative, d_grad), d_opt, d_params)
            g_up, g_opt = g_tx.update(g_grad, g_opt, theta)
            theta = optax.apply_updates(theta, g_up)
            return ((optax.apply_updates(d_params, d_up), d_opt, theta, g_opt),
                    jnp.stack([theta[0], jnp.abs(theta[1])]))

        _, trace = jax.lax.scan(step, state, jnp.arange(steps))
        return trace

    train = jax.jit(train)
    traces = np.stack([np.asarray(train(jnp.int32(i), jax.random.PRNGKey(seed + i)))
                       for i in range(len(names))])
    return traces[:, -(steps // 4):].mean(1), traces


def run(out_dir: str, quick: bool = False) -> dict:
    os.makedirs(out_dir, exist_ok=True)
    names = QUICK_DIVERGENCES if quick else DIVERGENCES
    steps = 1500 if quick else 3000
    direct = np.array([direct_fit(n) for n in names])                  # [K, 3]
    learned, traces = learned_fits(names, steps, 512, G_LR[quick])    # [K, 2], [K, T, 2]
    fits = np.concatenate([direct[:, :2], learned])                    # [2K, 2]
    scores = np.array([[divergence(n, mu, s) for mu, s in fits] for n in names])  # [K, 2K]
    mean, std = mixture_moments()
    kl = names.index("kl")
    tol = TOLERANCE[quick]
    gap = np.abs(learned - direct[:, :2])                              # [K, 2]
    checked = [i for i, n in enumerate(names) if n not in UNCHECKED]
    own_best = [bool(scores[i, i] <= scores[i].min() + 1e-9) for i in range(len(names))]
    checks = {
        f"KL's direct fit = the mixture's mean and std (to {KL_MOMENT_TOL})":
            bool(abs(direct[kl, 0] - mean) <= KL_MOMENT_TOL
                 and abs(direct[kl, 1] - std) <= KL_MOMENT_TOL),
        "each divergence's own direct fit scores lowest under it among all fits":
            all(own_best),
        (f"learned vs direct: |d mu| <= {tol['mu']}, |d sigma| <= {tol['sigma']} "
         f"({', '.join(names[i] for i in checked)})"):
            bool(np.all(gap[checked, 0] <= tol["mu"]) and np.all(gap[checked, 1] <= tol["sigma"])),
    }
    _plot(os.path.join(out_dir, f"{NAME}.png"), names, direct, learned, traces)
    table = {n: {"mu_direct": direct[i, 0], "sigma_direct": direct[i, 1],
                 "divergence_at_direct": direct[i, 2], "mu_learned": learned[i, 0],
                 "sigma_learned": learned[i, 1], "divergence_at_learned": scores[i, len(names) + i]}
             for i, n in enumerate(names)}
    worst = max(checked, key=lambda i: gap[i].max())
    return {
        "title": "Nowozin et al. 2016 (f-GAN), Sec. 4 / Table 3: a Gaussian fitted to a mixture",
        "paper": "learned (mu, sigma) close to the best fit per divergence (gaps ~0.03 mu, "
                 "~0.1 sigma); KL fit = moments",
        "ours": (f"KL fit = moments ({direct[kl, 0]:.4f}, {direct[kl, 1]:.4f}); largest "
                 f"learned-direct gap {gap[worst].max():.3f} ({names[worst]}) over "
                 f"{len(checked)} divergences"
                 + ("; neyman unstable, see record" if "neyman" in names else "")),
        "numbers": {"mixture": {"weights": WEIGHTS, "means": MEANS, "stds": STDS,
                                "mean": mean, "std": std},
                    "fits": table, "score_matrix_rows_divergence_cols_fit": scores,
                    "fit_order": [f"{n} direct" for n in names] + [f"{n} learned"
                                                                    for n in names],
                    "steps": steps, "batch": 512},
        "checks": checks,
        "tolerances": {**tol, "kl_moments": KL_MOMENT_TOL, "own_fit_best_slack": 1e-9,
                       "not_checked_learned": {n: UNCHECKED[n] for n in names if n in UNCHECKED}},
    }


def _plot(path, names, direct, learned, traces) -> None:
    fig = Figure(figsize=(13, 4.6), dpi=100)
    ax_d, ax_t = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.2, 1]})
    x = np.linspace(-4.0, 6.0, 1001)
    ax_d.fill_between(x, np.exp(log_mixture(x)), color="0.8", label="data: mixture")
    colours = [f"C{i}" for i in range(len(names))]
    for i, n in enumerate(names):
        ax_d.plot(x, toys.normal_pdf(x, direct[i, 0], direct[i, 1]), c=colours[i], lw=1.2,
                  label=n)
        ax_d.plot(x, toys.normal_pdf(x, learned[i, 0], learned[i, 1]), c=colours[i], lw=1.2,
                  ls="--")
    ax_d.set_title("best Gaussian per divergence: direct (solid), f-GAN (dashed)",
                   fontsize="medium")
    ax_d.legend(fontsize="x-small", loc="upper left")
    ax_d.set_xlabel("x")
    for i, n in enumerate(names):
        ax_t.plot(traces[i, :, 0], traces[i, :, 1], c=colours[i], lw=0.6, alpha=0.6)
        ax_t.plot(*direct[i, :2], "o", c=colours[i], ms=7, mfc="none")
        ax_t.plot(*learned[i], "x", c=colours[i], ms=7)
        ax_t.annotate(n, direct[i, :2], textcoords="offset points", xytext=(5, 4),
                      fontsize="x-small", c=colours[i])
    ax_t.plot([0.0], [1.0], "k*", ms=8)
    ax_t.set_xlabel("mu")
    ax_t.set_ylabel("sigma")
    ax_t.set_title("f-GAN training paths from N(0, 1) (*): o direct fit, x learned",
                   fontsize="medium")
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    common.main(run, __doc__)
