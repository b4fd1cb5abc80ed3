"""Mescheder, Geiger & Nowozin 2018, the Dirac-GAN: which training methods converge.

"Which Training Methods for GANs do actually Converge?", ICML 2018, Sections 2-3 and
Figs. 1-3. The generator is p_theta = delta_theta, the data delta_0, the discriminator
D_psi(x) = psi x, and the game (their eq. 3 with the notation of Nagarajan & Kolter 2017)

    L(theta, psi) = f(psi theta) + f(0),   f(t) = -log(1 + exp(-t))   (GAN; f(t) = t: WGAN),

minimised by theta and maximised by psi. The unique equilibrium is (0, 0). The run

* writes every loss through gan_jax: the library's D logit (high on real data) is -D_psi(x),
  so ``losses.LOSSES["minimax"]`` gives exactly -L as D's loss and L - f(0) as G's, and
  ``"wasserstein"`` gives the WGAN game; R1, R2 and WGAN-GP are ``gan_jax.penalties`` applied
  to that D (jax.grad of D; in the Dirac-GAN grad_x D = -psi everywhere);
* follows 500 steps of size h = 0.2 from (theta, psi) = (1, 1) for each method, with
  simultaneous and with alternating updates (alternating: n_d D steps, then one G step, the
  order of gan_jax.steps.train_step), n_d = 1 and 5;
* computes the Jacobians of the gradient vector field v(theta, psi) = (-dL/dtheta, dL/dpsi)
  and of the update operators at (0, 0) with jax.jacfwd and compares their eigenvalues with
  the paper's closed forms (float64).

Method settings, as in public copies of the Dirac-GAN simulation code released with the
paper (the paper does not print them): WGAN clips psi to [-0.3, 0.3]; WGAN-GP penalises
gamma/2 (|grad D| - g0)^2 with gamma = 1, g0 = 0.3; consensus optimisation (Mescheder et al.
2017) adds -gamma grad(|v|^2 / 2) with gamma = 0.3; instance noise has std sigma = 1 on real
and generated points (expectations by 40-point Gauss-Hermite quadrature, so the field is
deterministic); R1 and R2 use gamma = 0.3 (penalty gamma/2 |grad D|^2).

    python -m experiments.paper.dirac_gan [--out DIR] [--quick]
"""

from __future__ import annotations

import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from matplotlib.figure import Figure

from experiments.paper import common
from gan_jax import losses, penalties

H = 0.2
NUM_STEPS = 500
START = (1.0, 1.0)
GAMMA_R = 0.3            # R1 and R2
GAMMA_CONSENSUS = 0.3
NOISE_STD = 1.0
WGAN_CLIP = 0.3
GP_GAMMA, GP_TARGET = 1.0, 0.3
N_DISC = (1, 5)
F1_GAN, F2_GAN = 0.5, -0.25   # f'(0) and f''(0) of f(t) = -log(1 + exp(-t))
CONVERGED = 2e-2         # final distance to (0, 0) below which a run has converged
NOT_SHRUNK = 0.95        # a final distance at least this share of the start's: no convergence
ORBIT = 0.1              # WGAN(-GP): the last 100 iterates all stay this far from (0, 0)
EIG_TOL = 1e-6


class Method(NamedTuple):
    """One training method of the paper's Fig. 3 on the Dirac-GAN."""

    label: str
    loss: str                  # a name in gan_jax.losses.LOSSES
    penalty: str = "none"      # a name in gan_jax.penalties.PENALTIES
    gamma: float = 0.0         # penalty weight in the paper's gamma/2 convention
    gp_target: float = 1.0     # g0 of the WGAN-GP penalty
    clip: float = 0.0          # WGAN: |psi| <= clip after each D step
    noise_std: float = 0.0     # instance noise
    consensus: float = 0.0     # consensus optimisation weight


METHODS = {
    "gan": Method("GAN", "minimax"),
    "wgan": Method(f"WGAN (clip {WGAN_CLIP})", "wasserstein", clip=WGAN_CLIP),
    "wgan_gp": Method(f"WGAN-GP (gamma {GP_GAMMA}, g0 {GP_TARGET})", "wasserstein", "gp",
                      GP_GAMMA, gp_target=GP_TARGET),
    "consensus": Method(f"consensus (gamma {GAMMA_CONSENSUS})", "minimax",
                        consensus=GAMMA_CONSENSUS),
    "instance_noise": Method(f"instance noise (sigma {NOISE_STD})", "minimax",
                             noise_std=NOISE_STD),
    "r1": Method(f"R1 (gamma {GAMMA_R})", "minimax", "r1", GAMMA_R),
    "r2": Method(f"R2 (gamma {GAMMA_R})", "minimax", "r2", GAMMA_R),
}


def _logits(psi: jax.Array, x: jax.Array) -> jax.Array:
    """gan_jax's D logit [B] for points x [B, 1]: the paper's D_psi(x) = psi x is high on
    generated points (f(D) on them, f(-D) on data), the library's logit on real ones."""
    return -psi * x[:, 0]


def _noise_nodes(std: float) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Hermite nodes and weights of N(0, std^2); one node at 0 when std = 0."""
    if std == 0:
        return np.zeros(1), np.ones(1)
    x, w = np.polynomial.hermite_e.hermegauss(40)
    return std * x, w / np.sqrt(2.0 * np.pi)


def _d_penalty(method: Method, psi, real, fake):
    """The penalty term of D's loss, through gan_jax.penalties (0 without one)."""
    if method.penalty == "none":
        return jnp.zeros((), real.dtype)

    def uniform(purpose, shape):  # interpolation weights; grad_x D is the same everywhere
        del purpose
        return jnp.full((real.shape[0], *shape), 0.5, real.dtype)

    penalty = penalties.get_penalty(method.penalty)
    if method.penalty == "gp":
        # gamma/2 (|psi| - g0)^2 = (gamma g0^2 / 2) (|grad (D / g0)| - 1)^2: the library's
        # unit-target penalty on D / g0.
        g0 = method.gp_target
        return 0.5 * method.gamma * g0 ** 2 * penalty(
            lambda x: _logits(psi, x) / g0, real, fake, uniform)
    # r1/r2 return 1/2 |grad D|^2, so the weight is the paper's gamma.
    return method.gamma * penalty(lambda x: _logits(psi, x), real, fake, uniform)


def game_losses(method: Method, theta: jax.Array, psi: jax.Array):
    """(D's loss, G's loss) at (theta, psi), scalars; with instance noise their expectations."""
    objective = losses.get_objective(method.loss)
    nodes, weights = _noise_nodes(method.noise_std)

    def at_node(eps):
        real = jnp.reshape(eps, (1, 1))                  # delta_0 plus noise
        fake = jnp.reshape(theta + eps, (1, 1))          # delta_theta plus noise
        d = objective.d_loss(_logits(psi, real), _logits(psi, fake))
        return (d + _d_penalty(method, psi, real, fake),
                objective.g_loss(None, _logits(psi, fake)))

    # Real and generated noise are independent; each loss is a sum of a real-data term
    # and a generated-data term, so one shared node per term gives both expectations.
    d, g = jax.vmap(at_node)(jnp.asarray(nodes, theta.dtype))
    w = jnp.asarray(weights, theta.dtype)
    return jnp.sum(w * d), jnp.sum(w * g)


def vector_field(method: Method, p: jax.Array) -> jax.Array:
    """v(theta, psi) = (-dG_loss/dtheta, -dD_loss/dpsi) [2]; consensus: v - gamma grad |v|^2/2."""
    def plain(p):
        theta, psi = p[0], p[1]
        g_grad = jax.grad(lambda t: game_losses(method, t, psi)[1])(theta)
        d_grad = jax.grad(lambda s: game_losses(method, theta, s)[0])(psi)
        return -jnp.stack([g_grad, d_grad])

    if method.consensus == 0:
        return plain(p)
    return plain(p) - method.consensus * jax.grad(lambda q: 0.5 * jnp.sum(plain(q) ** 2))(p)


def _clip_psi(method: Method, p: jax.Array) -> jax.Array:
    if method.clip <= 0:
        return p
    return p.at[1].set(penalties.clip_weights(p[1], method.clip))


def update(method: Method, p: jax.Array, scheme: str, n_disc: int = 1) -> jax.Array:
    """One training iteration from p = (theta, psi) [2] with step H.

    "simultaneous": both players step along v(p). "alternating": ``n_disc`` D steps, then
    one G step at the new psi (gan_jax.steps.train_step's order).
    """
    if scheme == "simultaneous":
        return _clip_psi(method, p + H * vector_field(method, p))
    def d_step(_, p):
        return _clip_psi(method, p.at[1].add(H * vector_field(method, p)[1]))

    p = lax.fori_loop(0, n_disc, d_step, p)  # one trace of the field for any n_disc
    return p.at[0].add(H * vector_field(method, p)[0])


SCHEMES = [("simultaneous", 1)] + [("alternating", n) for n in N_DISC]


def _key(scheme: str, n_disc: int) -> str:
    return f"{scheme}/n_disc={n_disc}"


def simulate(method: Method, num_steps: int) -> tuple[dict, dict]:
    """Trajectories and Jacobians of one method, in one compiled program (float64).

    Returns ``({scheme key: iterates [num_steps + 1, 2]}, {"continuous" or scheme key:
    jax.jacfwd of the field or of the update operator at (0, 0), [2, 2]})``.
    """
    def compute(start):
        paths, jacobians = {}, {}
        zero = jnp.zeros_like(start)
        jacobians["continuous"] = jax.jacfwd(lambda p: vector_field(method, p))(zero)
        for scheme, n_disc in SCHEMES:
            def step(p, _, scheme=scheme, n_disc=n_disc):
                p = update(method, p, scheme, n_disc)
                return p, p

            _, path = lax.scan(step, start, None, length=num_steps)
            paths[_key(scheme, n_disc)] = jnp.concatenate([start[None], path])
            jacobians[_key(scheme, n_disc)] = jax.jacfwd(
                lambda p, s=scheme, n=n_disc: update(method, p, s, n))(zero)
        return paths, jacobians

    paths, jacobians = jax.jit(compute)(jnp.asarray(START, jnp.float64))
    return ({k: np.asarray(v, np.float64) for k, v in paths.items()},
            {k: np.asarray(v, np.float64) for k, v in jacobians.items()})


def analytic_jacobian(name: str) -> np.ndarray:
    """The paper's Jacobian of v at (0, 0), [[J11, -a], [a, J22]] with a = f'(0).

    Its eigenvalues (Sec. 2-3): GAN +-i f'(0); WGAN +-i; consensus -gamma f'(0)^2 +- i f'(0);
    instance noise f''(0) sigma^2 +- sqrt(f''(0)^2 sigma^4 - f'(0)^2); R1/R2
    -gamma/2 +- sqrt(gamma^2/4 - f'(0)^2).
    """
    a = 1.0 if name == "wgan" else F1_GAN
    j11, j22 = {
        "gan": (0.0, 0.0), "wgan": (0.0, 0.0),
        "consensus": (-GAMMA_CONSENSUS * a ** 2, -GAMMA_CONSENSUS * a ** 2),
        "instance_noise": (0.0, 2.0 * F2_GAN * NOISE_STD ** 2),
        "r1": (0.0, -GAMMA_R), "r2": (0.0, -GAMMA_R),
    }[name]
    return np.array([[j11, -a], [a, j22]])


def analytic_eigenvalues(name: str, scheme: str, n_disc: int = 1) -> np.ndarray:
    """Eigenvalues of the paper's Jacobian of the continuous field or of an update operator.

    simultaneous: 1 + h lambda. alternating: the product of the linearised D steps
    [[1, 0], [h J21, 1 + h J22]]^n_disc and the G step [[1 + h J11, h J12], [0, 1]]; for the
    unregularised GAN and WGAN its eigenvalues are the paper's closed form
    1 - alpha^2/2 +- sqrt((1 - alpha^2/2)^2 - 1), alpha = sqrt(n_disc) h f'(0).
    """
    j = analytic_jacobian(name)
    if scheme == "continuous":
        trace, det = np.trace(j), np.linalg.det(j)
        return trace / 2 + np.array([1, -1]) * np.sqrt(complex(trace ** 2 / 4 - det))
    if scheme == "simultaneous":
        return 1.0 + H * analytic_eigenvalues(name, "continuous")
    if name in ("gan", "wgan"):
        alpha2 = n_disc * (H * j[1, 0]) ** 2
        return 1 - alpha2 / 2 + np.array([1, -1]) * np.sqrt(complex((1 - alpha2 / 2) ** 2 - 1))
    d_step = np.array([[1.0, 0.0], [H * j[1, 0], 1.0 + H * j[1, 1]]])
    g_step = np.array([[1.0 + H * j[0, 0], H * j[0, 1]], [0.0, 1.0]])
    return np.linalg.eigvals(g_step @ np.linalg.matrix_power(d_step, n_disc))


def _sorted(lam) -> np.ndarray:
    lam = np.asarray(lam, complex)
    return lam[np.lexsort((lam.imag, lam.real))]


def _pairs(lam) -> list[list[float]]:
    return [[float(z.real), float(z.imag)] for z in _sorted(lam)]


def _draw(path: str, paths: dict, methods: dict) -> None:
    """2 x 4 panels: the method's vector field and its trajectories from (1, 1)."""
    panels = [("gan", "simultaneous")] + [(name, "alternating") for name in methods]
    fig = Figure(figsize=(16, 8.4), dpi=100)
    axes = fig.subplots(2, 4).ravel()
    for ax, (name, scheme) in zip(axes, panels, strict=True):
        method = methods[name]
        shown = [xy for k, xy in paths[name].items() if k.startswith(scheme)]
        lim = 1.05 * max(2.0, *(float(np.max(np.abs(xy))) for xy in shown))
        grid = np.linspace(-lim, lim, 15)
        tt, ss = np.meshgrid(grid, grid)
        field = jax.jit(jax.vmap(lambda p, m=method: vector_field(m, p)))(
            jnp.asarray(np.stack([tt.ravel(), ss.ravel()], -1), jnp.float64))
        field = np.asarray(field).reshape(*tt.shape, 2)
        ax.quiver(tt, ss, field[..., 0], field[..., 1], color="0.55", angles="xy",
                  width=0.004)
        for n_disc, style in zip(N_DISC, ("-", "--"), strict=True):
            key = _key(scheme, n_disc)
            if key not in paths[name]:
                continue
            xy = paths[name][key]
            ax.plot(xy[:, 0], xy[:, 1], style, lw=1.4,
                    color="tab:red" if n_disc == 1 else "tab:blue",
                    label=f"n_d = {n_disc}: |end| = {np.hypot(*xy[-1]):.2g}")
        if method.clip > 0:
            for y in (-method.clip, method.clip):
                ax.axhline(y, color="k", lw=0.6, ls=":")
        ax.plot(*START, "k^", ms=7)
        ax.plot(0, 0, "k*", ms=10)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_title(f"{method.label}, {scheme}", fontsize="medium")
        ax.set_xlabel("theta")
        ax.set_ylabel("psi")
        ax.legend(loc="lower left", fontsize="x-small")
    fig.suptitle(f"Dirac-GAN (Mescheder et al. 2018): {NUM_STEPS} steps of h = {H} from "
                 "(1, 1) (triangle) towards the equilibrium (0, 0) (star)")
    fig.tight_layout()
    fig.savefig(path)


def run(out_dir: str, quick: bool = False) -> dict:
    """Trajectories, final distances and eigenvalue checks; draws dirac_gan.png.

    ``quick``: the unregularised GAN, R1 and instance noise only (the tests' key numbers).
    """
    os.makedirs(out_dir, exist_ok=True)
    names = ["gan", "r1", "instance_noise"] if quick else list(METHODS)
    paths, distances, eigen, errors = {}, {}, {}, []
    with jax.enable_x64(True):
        for name in names:
            paths[name], jacobians = simulate(METHODS[name], NUM_STEPS)
            distances[name] = {k: float(np.hypot(*xy[-1])) for k, xy in paths[name].items()}
            if name == "wgan_gp":
                # (0, 0) is a stationary point of the penalised field only because
                # d|psi|/dpsi is read as 0 there; the field is not differentiable at it.
                continue
            for key, jac in jacobians.items():
                scheme, _, n = key.partition("/n_disc=")
                ours = np.linalg.eigvals(jac)
                paper = analytic_eigenvalues(name, scheme, int(n or 1))
                errors.append(float(np.max(np.abs(_sorted(ours) - _sorted(paper)))))
                eigen.setdefault(name, {})[key] = {
                    "ours": _pairs(ours), "paper": _pairs(paper), "max_abs_error": errors[-1],
                    # Stability: max real part < 0 (continuous), spectral radius < 1 (updates).
                    "max_real_part": float(np.max(ours.real)),
                    "spectral_radius": float(np.max(np.abs(ours)))}
        if quick:
            _draw_quick(os.path.join(out_dir, "dirac_gan.png"), paths)
        else:
            _draw(os.path.join(out_dir, "dirac_gan.png"), paths, METHODS)

    start = float(np.hypot(*START))
    checks = {
        "R1 converges to (0, 0) (simultaneous; alternating n_d = 1 and 5)":
            all(d < CONVERGED for d in distances["r1"].values()),
        f"unregularised GAN does not converge (final distance >= {NOT_SHRUNK} x start's)":
            all(d >= NOT_SHRUNK * start for d in distances["gan"].values()),
        "unregularised simultaneous GD: eigenvalues 1 +- i h f'(0), modulus > 1":
            eigen["gan"]["simultaneous/n_disc=1"]["spectral_radius"] > 1,
        "unregularised alternating GD: eigenvalues of modulus 1 (n_d = 1 and 5)": all(
            abs(eigen["gan"][_key("alternating", n)]["spectral_radius"] - 1) < EIG_TOL
            for n in N_DISC),
        "eigenvalues of every Jacobian match the paper's closed forms":
            max(errors) < EIG_TOL,
    }
    if not quick:
        checks.update({
            "R2, instance noise and consensus converge (all three schemes)": all(
                d < CONVERGED for n in ("r2", "instance_noise", "consensus")
                for d in distances[n].values()),
            "WGAN and WGAN-GP do not converge (all three schemes; they keep orbiting)": all(
                np.min(np.hypot(*xy[-100:].T)) > ORBIT
                for n in ("wgan", "wgan_gp") for xy in paths[n].values()),
        })
    converged = [n for n in names if all(d < CONVERGED for d in distances[n].values())]
    return {
        "title": "Mescheder et al. 2018, Dirac-GAN (Sec. 2-3, Fig. 3)",
        "paper": "converge: R1, R2, instance noise, consensus; not: GAN, WGAN, WGAN-GP",
        "ours": f"converge (|end| < {CONVERGED}): {', '.join(converged)}; others not; "
                f"eigenvalues within {max(errors):.0e}",
        "numbers": {
            "settings": {"h": H, "num_steps": NUM_STEPS, "start": list(START),
                         "methods": {n: METHODS[n]._asdict() for n in names}},
            "final_distance": distances,
            "start_distance": start,
            "eigenvalues": eigen,
            "max_eigenvalue_error": max(errors),
        },
        "checks": checks,
        "tolerances": {"converged_distance": CONVERGED, "not_shrunk_ratio": NOT_SHRUNK,
                       "orbit_min_distance_last_100": ORBIT,
                       "eigenvalues_abs": EIG_TOL},
    }


def _draw_quick(path: str, paths: dict) -> None:
    fig = Figure(figsize=(5, 5), dpi=80)
    ax = fig.add_subplot()
    for name, runs in paths.items():
        xy = runs["alternating/n_disc=1"]
        ax.plot(xy[:, 0], xy[:, 1], label=name)
    ax.legend()
    fig.savefig(path)


if __name__ == "__main__":
    common.main(run, __doc__)
