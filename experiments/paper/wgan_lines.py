"""WGAN (Arjovsky et al. 2017), Example 1: learning parallel lines.

Z ~ U[0, 1], P_0 the law of (0, Z) and P_theta the law of (theta, Z): two segments in the
plane at horizontal distance |theta|. The paper's closed forms (Example 1):

    W(P_0, P_theta) = |theta|,
    JS(P_0, P_theta) = log 2 (theta != 0), 0 (theta = 0),
    KL(P_theta || P_0) = KL(P_0 || P_theta) = +inf (theta != 0), 0 (theta = 0),
    delta(P_0, P_theta) (total variation) = 1 (theta != 0), 0 (theta = 0).

Only W is continuous in theta, which is the paper's case for it. This run adds what trained
networks estimate along theta, one network per theta, all trained at once:

* a WGAN-GP critic f (``wasserstein`` loss + ``gp`` penalty, lambda = 10; Gulrajani et al.
  2017): raw estimate E_P0 f - E_Ptheta f. The gradient penalty only asks for slope ~1, and a
  linear critic's optimum has slope 1 + |theta| / (2 lambda), so the raw estimate runs above
  |theta|. Divided by the critic's largest gradient norm L on the rectangle spanned by the
  two segments, it is the value of a 1-Lipschitz function there (which extends to the plane
  with the same constant): a certified lower bound on W, the number checked.
* a standard discriminator D (``minimax`` loss, the cross-entropy -V): the JS estimate
  (V(D) + log 4) / 2, which is JS(P_0, P_theta) in the paper's normalisation (natural log,
  JS = 1/2 KL(P||M) + 1/2 KL(Q||M), maximum log 2) by Goodfellow et al.'s Theorem 1 at the
  optimal D.

Expectations over Z are taken on a 1,000-point midpoint grid (no sampling noise).

    python -m experiments.paper.wgan_lines [--out DIR] [--quick]
"""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from experiments.paper import common, toys

NAME = "wgan_lines"
LOG2 = math.log(2.0)
GP_WEIGHT = 10.0
# Tolerances: |W estimate - |theta||; |JS estimate - log 2| for |theta| >= JS_FLAT_FROM.
TOLERANCE = {False: {"w_abs": 0.05, "js_abs": 0.01},
             True: {"w_abs": 0.1, "js_abs": 0.03}}
JS_FLAT_FROM = 0.2


def _sample(theta: jax.Array, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """One theta's batch: real (0, Z), generated (theta, Z'), Z, Z' ~ U[0, 1]; both [n, 2]."""
    z_real, z_fake = jax.random.uniform(key, (2, n, 1))
    return (jnp.concatenate([jnp.zeros_like(z_real), z_real], -1),
            jnp.concatenate([jnp.full_like(z_fake, theta), z_fake], -1))


def _lipschitz(module, params, thetas: np.ndarray, n: int = 41) -> np.ndarray:
    """Largest ||grad f|| of each critic [P] on an n x n grid of its rectangle
    [min(0, theta), max(0, theta)] x [0, 1]."""
    s, t = np.meshgrid(np.linspace(0.0, 1.0, n), np.linspace(0.0, 1.0, n))
    unit = np.stack([s.ravel(), t.ravel()], -1)                       # [n^2, 2]
    points = np.repeat(unit[None], len(thetas), 0)
    points[..., 0] *= thetas[:, None]                                  # x from 0 to theta

    def norms(p, x):
        g = jax.grad(lambda x_: jnp.sum(module.apply({"params": p}, x_)))(x)
        return jnp.sqrt(jnp.sum(g * g, -1))

    return np.asarray(jax.jit(jax.vmap(norms))(params, jnp.asarray(points, jnp.float32))
                      ).max(-1)


def run(out_dir: str, quick: bool = False) -> dict:
    os.makedirs(out_dir, exist_ok=True)
    thetas = (np.array([-1.0, 0.0, 0.4, 1.0]) if quick else
              np.round(np.linspace(-1.0, 1.0, 21), 10))
    steps = 1200 if quick else 3000
    pairs = jnp.asarray(thetas, jnp.float32)
    critic, c_params = toys.train_discriminators(
        "wasserstein", _sample, pairs, steps=steps, batch=256, lr=1e-3, penalty="gp",
        penalty_weight=GP_WEIGHT, seed=1)
    disc, d_params = toys.train_discriminators(
        "minimax", _sample, pairs, steps=steps, batch=256, lr=1e-3, seed=2)

    u = (np.arange(1000) + 0.5) / 1000.0                               # midpoints of U[0, 1]
    real = np.stack([np.zeros_like(u), u], -1)
    fakes = [np.stack([np.full_like(u, t), u], -1) for t in thetas]
    c_real = toys.scores(critic, c_params, real)                       # [P, 1000]
    c_fake = toys.scores(critic, c_params, np.stack(fakes))
    d_real = toys.scores(disc, d_params, real)
    d_fake = toys.scores(disc, d_params, np.stack(fakes))
    w_raw = c_real.mean(-1) - c_fake.mean(-1)
    lip = _lipschitz(critic, c_params, thetas)
    w_est = w_raw / lip
    value = (np.asarray(jax.nn.log_sigmoid(d_real)).mean(-1)
             + np.asarray(jax.nn.log_sigmoid(-d_fake)).mean(-1))
    js_est = 0.5 * (value + toys.LOG4)

    tol = TOLERANCE[quick]
    away = np.abs(thetas) >= JS_FLAT_FROM
    w_err = np.abs(w_est - np.abs(thetas))
    js_err = np.abs(js_est[away] - LOG2)
    checks = {
        f"|W estimate - |theta|| <= {tol['w_abs']} for every theta":
            bool(w_err.max() <= tol["w_abs"]),
        f"|JS estimate - log 2| <= {tol['js_abs']} for |theta| >= {JS_FLAT_FROM} (flat)":
            bool(js_err.max() <= tol["js_abs"]),
    }
    _plot(os.path.join(out_dir, f"{NAME}.png"), thetas, w_raw, w_est, js_est)
    return {
        "title": "Arjovsky et al. 2017 (WGAN), Example 1 / Fig. 1: parallel lines",
        "paper": "W = |theta| (continuous); JS = log 2, KL = inf, TV = 1 for theta != 0",
        "ours": (f"critic W within {w_err.max():.3f} of |theta|; JS estimate "
                 f"{js_est[away].min():.4f}..{js_est[away].max():.4f} (log 2 = {LOG2:.4f}) "
                 f"for |theta| >= {JS_FLAT_FROM}"),
        "numbers": {"theta": thetas, "w_closed_form": np.abs(thetas), "w_critic_raw": w_raw,
                    "critic_lipschitz": lip, "w_estimate": w_est, "js_closed_form":
                    np.where(thetas == 0, 0.0, LOG2), "value_trained_d": value,
                    "js_estimate": js_est, "steps": steps, "gp_weight": GP_WEIGHT},
        "checks": checks,
        "tolerances": {**tol, "js_flat_from_abs_theta": JS_FLAT_FROM,
                       "js_normalisation": "JS = (V(D) + log 4) / 2, nats; max log 2"},
    }


def _plot(path, thetas, w_raw, w_est, js_est) -> None:
    fig = Figure(figsize=(13, 4), dpi=100)
    ax_w, ax_js, ax_all = fig.subplots(1, 3)
    fine = np.linspace(-1.0, 1.0, 401)
    ax_w.plot(fine, np.abs(fine), c="k", lw=1.5, label="W = |theta| (closed form)")
    ax_w.plot(thetas, w_raw, "s", mfc="none", c="tab:orange", ms=5,
              label="WGAN-GP critic, raw E f(P0) - E f(Ptheta)")
    ax_w.plot(thetas, w_est, "o", c="tab:red", ms=4, label="critic / its Lipschitz constant")
    ax_w.set_title("Earth-mover distance", fontsize="medium")
    _jump(ax_js, LOG2, "k", "JS = log 2 (closed form)")
    ax_js.plot(thetas, js_est, "o", c="tab:blue", ms=4, label="D: (V(D) + log 4) / 2")
    ax_js.set_ylim(-0.05, 0.8)
    ax_js.set_title("Jensen-Shannon divergence", fontsize="medium")
    ax_all.plot(fine, np.abs(fine), c="tab:red", label="W = |theta|")
    _jump(ax_all, LOG2, "tab:blue", "JS = log 2")
    _jump(ax_all, 1.0, "tab:green", "TV = 1")
    ax_all.annotate("KL = +inf for theta != 0", xy=(-0.5, 1.45), xytext=(-0.5, 1.2),
                    ha="center", fontsize="small", c="tab:purple",
                    arrowprops={"arrowstyle": "->", "color": "tab:purple"})
    ax_all.set_ylim(-0.05, 1.5)
    ax_all.set_title("Closed forms (Example 1)", fontsize="medium")
    for ax in (ax_w, ax_js, ax_all):
        ax.set_xlabel("theta")
        ax.legend(fontsize="x-small", loc={ax_w: "upper center", ax_js: "lower left",
                                           ax_all: "lower right"}[ax])
    fig.tight_layout()
    fig.savefig(path)


def _jump(ax, level: float, colour: str, label: str) -> None:
    """A divergence equal to ``level`` for theta != 0 and to 0 at theta = 0."""
    ax.hlines(level, -1.0, -0.01, colors=colour, lw=1.5, label=label)
    ax.hlines(level, 0.01, 1.0, colors=colour, lw=1.5)
    ax.plot([0.0], [level], "o", mfc="w", mec=colour, ms=5)
    ax.plot([0.0], [0.0], "o", c=colour, ms=3)


if __name__ == "__main__":
    common.main(run, __doc__)
