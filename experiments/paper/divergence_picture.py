"""The divergence picture of the lecture notes: the trained objective measures the JSD.

The seed (``/work/shared/seed/``, after its eq. 5) argues with two pictures: when p_data and
p_G overlap, no discriminator separates them and max_D V(D, G) stays small; when they are far
apart, D separates them easily and max_D V is large. Goodfellow et al. 2014, Theorem 1, makes
it exact: max_D V(D, G) = -log 4 + 2 JSD(p_data || p_G).

This run takes the family p_data = N(0, 1), p_G = N(m, 1) for m from 0 (identical) to 6 (far
apart), trains one MLP discriminator per pair with the library's ``minimax`` D loss (the
cross-entropy -V), all pairs at once, and reads off V at the trained D by quadrature against
the two densities. The true JSD is computed by adaptive quadrature (scipy.integrate.quad).
Checks: V at the trained D increases strictly with the JSD along the family, and it lies
within a stated tolerance of -log 4 + 2 JSD (it can only lie below: V(D) <= max_D V).

    python -m experiments.paper.divergence_picture [--out DIR] [--quick]
"""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from experiments.paper import common, toys

NAME = "divergence_picture"
# Tolerance on |V(D_trained) - (-log 4 + 2 JSD)|, nats (full run, quick run).
TOLERANCE = {False: 0.01, True: 0.03}


def _sample(shift: jax.Array, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """One pair's batch: real ~ N(0, 1), generated ~ N(shift, 1); both [n, 1]."""
    k_real, k_fake = jax.random.split(key)
    return (jax.random.normal(k_real, (n, 1)),
            shift + jax.random.normal(k_fake, (n, 1)))


def run(out_dir: str, quick: bool = False) -> dict:
    os.makedirs(out_dir, exist_ok=True)
    shifts = (np.array([0.0, 0.5, 1.0, 2.0, 3.0, 5.0]) if quick else
              np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0]))
    steps = 500 if quick else 2000
    module, params = toys.train_discriminators(
        "minimax", _sample, jnp.asarray(shifts, jnp.float32), steps=steps,
        batch=256 if quick else 512, lr=1e-3)

    x = np.linspace(-10.0, 16.0, 5201)
    logits = toys.scores(module, params, x[:, None])             # [P, N]
    p_data = toys.normal_pdf(x, 0.0, 1.0)
    p_g = np.stack([toys.normal_pdf(x, m, 1.0) for m in shifts])  # [P, N]
    values = toys.value_of_d(logits, logits, p_data, p_g, x)
    jsds = np.array([toys.jsd(lambda y: toys.normal_pdf(y, 0.0, 1.0),
                              lambda y, m=m: toys.normal_pdf(y, m, 1.0), -12.0, 12.0 + m)
                     for m in shifts])
    theory = -toys.LOG4 + 2.0 * jsds
    gap = values - theory
    tol = TOLERANCE[quick]
    checks = {
        "V at the trained D increases strictly with JSD along the family":
            bool(np.all(np.diff(values) > 0)),
        f"|V(D) - (-log 4 + 2 JSD)| <= {tol} for every pair": bool(np.max(np.abs(gap)) <= tol),
    }
    _plot(os.path.join(out_dir, f"{NAME}.png"), x, shifts, logits, p_data, p_g, jsds, values)
    worst = int(np.argmax(np.abs(gap)))
    return {
        "title": "Lecture notes (seed): max_D V measures the divergence; "
                 "Goodfellow et al. 2014, Thm. 1",
        "paper": "small JSD, small max_D V; large, large: max_D V = -log 4 + 2 JSD",
        "ours": (f"{len(shifts)} pairs N(0,1) vs N(m,1), m in [0, {shifts[-1]:g}]: monotone; "
                 f"max |V - (-log 4 + 2 JSD)| = {abs(gap[worst]):.4f} (m = {shifts[worst]:g})"),
        "numbers": {"shift": shifts, "jsd": jsds, "value_trained_d": values,
                    "value_theory": theory, "gap": gap, "steps": steps},
        "checks": checks,
        "tolerances": {"abs_gap_nats": tol},
    }


def _plot(path, x, shifts, logits, p_data, p_g, jsds, values) -> None:
    fig = Figure(figsize=(12, 4.2), dpi=100)
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.3]})
    # The seed's two pictures: a close pair and a far pair, with the trained D on top.
    for ax, i in zip(axes[:2], (int(np.argmin(np.abs(shifts - 0.5))), len(shifts) - 2),
                     strict=True):
        ax.fill_between(x, p_data, color="tab:blue", alpha=0.3, label="p_data = N(0, 1)")
        ax.fill_between(x, p_g[i], color="tab:red", alpha=0.3, label=f"p_G = N({shifts[i]:g}, 1)")
        twin = ax.twinx()
        twin.plot(x, jax.nn.sigmoid(logits[i]), "k--", lw=1.3, label="trained D(x)")
        twin.plot(x, p_data / (p_data + p_g[i] + 1e-300), c="tab:green", lw=0.8,
                  label="D* = p_data/(p_data+p_G)")
        twin.set_ylim(0, 1.05)
        ax.set_xlim(-4, shifts[i] + 4)
        ax.set_ylim(0, 0.62)  # headroom for the legend
        ax.set_title(f"JSD = {jsds[i]:.3f}: V(D) = {values[i]:.3f}", fontsize="medium")
        ax.set_xlabel("x")
        lines = ax.get_legend_handles_labels()
        lines2 = twin.get_legend_handles_labels()
        ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize="x-small",
                  loc="upper left")
    ax = axes[2]
    j = np.linspace(0.0, math.log(2.0), 200)
    ax.plot(j, -toys.LOG4 + 2.0 * j, c="tab:gray", lw=1.5, label="-log 4 + 2 JSD (Theorem 1)")
    ax.plot(jsds, values, "o", c="tab:red", ms=5, label="V at the trained D")
    for m, jj, v in zip(shifts, jsds, values, strict=True):
        ax.annotate(f"m={m:g}", (jj, v), textcoords="offset points", xytext=(6, -10),
                    fontsize="x-small")
    ax.axhline(0.0, c="k", lw=0.5, ls=":")
    ax.set_xlabel("JSD(p_data || p_G) by quadrature (nats)")
    ax.set_ylabel("max_D V(D, G)")
    ax.set_title("Bigger divergence, bigger objective", fontsize="medium")
    ax.legend(fontsize="small", loc="upper left")
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    common.main(run, __doc__)
