"""Mescheder, Geiger & Nowozin 2018, the Dirac-GAN: which training methods converge.

"Which Training Methods for GANs do actually Converge?", ICML 2018, Sections 2-3 and the
Dirac-GAN figures (Figs. 1-3). The generator is p_theta = delta_theta, the data delta_0, the
discriminator D_psi(x) = psi x, and the game (their eq. 3 with the notation of Nagarajan &
Kolter 2017)

    L(theta, psi) = f(psi theta) + f(0),   f(t) = -log(1 + exp(-t))   (GAN; f(t) = t: WGAN),

minimised by theta and maximised by psi. The unique equilibrium is (0, 0). The run

* writes every loss through gan_jax: the library's D logit (high on real data) is -D_psi(x),
  so ``losses.LOSSES["minimax"]`` gives exactly -L as D's loss and L - f(0) as G's,
  ``"nonsaturating"`` the non-saturating G loss -f(-psi theta) and ``"wasserstein"`` the WGAN
  game; R1, R2 and WGAN-GP are ``gan_jax.penalties`` applied to that D (jax.grad of D; in the
  Dirac-GAN grad_x D = -psi everywhere);
* follows 500 steps of size h = 0.2 (both players) from (theta, psi) = (1, 1) for each
  method, with simultaneous updates and with alternating updates of one G step and n_d = 1
  or 5 D steps per iteration;
* computes the Jacobians of the gradient vector field v(theta, psi) = (-dL/dtheta, dL/dpsi)
  and of the update operators at (0, 0) with jax.jacfwd and compares their eigenvalues with
  the paper's closed forms (float64).

Two protocols; every number in the record says which one it comes from.

* ``notebook`` (the main one): the settings with which the paper's figures were drawn, read
  from the official notebook, LMescheder/GAN_stability ``notebooks/DiracGAN.ipynb`` with its
  modules ``notebooks/diracgan/gans.py`` and ``simulate.py``. Nine methods: GAN, non-saturating
  GAN, WGAN with psi clipped to [-1, 1], WGAN-GP with weight gamma = 0.7 and target gradient
  norm g0 = 1 (penalty gamma/2 (|grad D| - g0)^2), instance noise of std 0.7, the zero-centred
  gradient penalty (R1) with gamma = 0.3 and with the critical gamma = 1 = 2 f'(0), consensus
  optimisation with gamma = 1, and the non-saturating GAN with R1 (gamma 0.3). The notebook's
  alternating iteration takes the G step first, then the n_d D steps, and it clips psi into
  the WGAN range after every step and also at the start point before the first step (a
  no-op here: psi0 = 1 lies in [-1, 1]).
* ``simulation_defaults``: the default arguments of the simulation classes in ``gans.py``
  (WGAN clip 0.3; WGAN-GP gamma 1, g0 0.3; instance noise std 1; consensus gamma 0.3; the
  gradient penalty gamma 0.3, here as R1 and as R2, whose Dirac-GAN fields coincide), with
  the alternating order of gan_jax.steps.train_step (n_d D steps, then
  the G step) and no clipping of the start point: the protocol of earlier versions of this
  reproduction, kept as a named variant.

Differences from the notebook that remain on purpose. Instance noise: the notebook averages
the field over 1,000 fresh normal draws at every evaluation (unseeded), this run takes the
expectation itself by 40-point Gauss-Hermite quadrature, so the field is deterministic (exact
to 1e-10 where the trajectories run, |theta|, |psi| <= 1.5; the error grows with |psi|, to
about 1e-8 at |psi| = 2, the edge of the drawn field, as f'(psi (theta + eps)) sharpens).
WGAN-GP: gan_jax's gradient norm is sqrt(|g|^2 + 1e-12), so |psi| reads as sqrt(psi^2 + 1e-12
g0^2). The field jumps by 2 gamma g0 at psi = 0; with the simulation defaults (g0 = 0.3) and
n_d = 5 the iterates slide along psi = 0, where the two readings part: the notebook's exact
|psi| stops at (theta, psi) = (-0.3, 0), the smoothed norm keeps orbiting near it; neither
reaches (0, 0). Under the notebook's settings the two agree to 1e-5 on every iterate.
Consensus optimisation (Mescheder et al. 2017) subtracts gamma grad(|v|^2 / 2). For the
Dirac-GAN |v|^2 / 2 = (theta^2 + psi^2) f'(psi theta)^2 / 2, whose gradient is

    f'(t)^2 (theta, psi) + (theta^2 + psi^2) f'(t) f''(t) (psi, theta),   t = psi theta;

the notebook's code halves the second term, the one through the chain rule of f'(t)^2. This
run uses the exact gradient by default (``consensus_form="exact"``, jax.grad of |v|^2 / 2)
and has the notebook's as ``consensus_form="official"``; the record compares the two for
gamma = 0.3 and 1 under both protocols. The Jacobians at (0, 0) agree (the halved term is
cubic there), the trajectories from (1, 1) need not: with gamma = 1 and n_d = 5 the official
form converges and the exact one drifts off to large psi.

The non-saturating GAN has the GAN's Jacobian at (0, 0), so its linearisation does not
converge either; from (1, 1) its alternating iterates still creep inwards (the record has
their end points), so the run checks only that it has not converged after 500 iterations.

The eigenvalues of an alternating update do not depend on which player moves first (the
linearised operator is a product A B of the players' steps, and A B and B A have the same
eigenvalues), so the closed forms below hold for both protocols.

    python -m experiments.paper.dirac_gan [--out DIR] [--quick]
"""

from __future__ import annotations

import functools
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
N_DISC = (1, 5)
F1_GAN, F2_GAN = 0.5, -0.25   # f'(0) and f''(0) of f(t) = -log(1 + exp(-t))
CONVERGED = 2e-2         # final distance to (0, 0) below which a run has converged
NOT_SHRUNK = 0.95        # a final distance at least this share of the start's: no convergence
ORBIT = 0.1              # WGAN(-GP): the last 100 iterates all stay this far from (0, 0)
EIG_TOL = 1e-6
NOTEBOOK_SOURCE = ("LMescheder/GAN_stability: notebooks/DiracGAN.ipynb, "
                   "notebooks/diracgan/gans.py, notebooks/diracgan/simulate.py")


class Method(NamedTuple):
    """One training method on the Dirac-GAN."""

    label: str
    loss: str                  # a name in gan_jax.losses.LOSSES
    penalty: str = "none"      # a name in gan_jax.penalties.PENALTIES
    gamma: float = 0.0         # penalty weight in the paper's gamma/2 convention
    gp_target: float = 1.0     # g0 of the WGAN-GP penalty
    clip: float = 0.0          # WGAN: |psi| <= clip after each step
    noise_std: float = 0.0     # instance noise
    consensus: float = 0.0     # consensus optimisation weight
    consensus_form: str = "exact"   # "exact" grad |v|^2/2, or "official" (the notebook's)


class Protocol(NamedTuple):
    """A set of method settings and the alternating order they are run with."""

    label: str
    methods: dict[str, Method]
    g_first: bool              # alternating: the G step before the n_d D steps
    clip_start: bool           # WGAN: psi of the start point clipped before the first step
    source: str


def _wgan(clip: float) -> Method:
    return Method(f"WGAN (clip {clip:g})", "wasserstein", clip=clip)


def _wgan_gp(gamma: float, target: float) -> Method:
    return Method(f"WGAN-GP (gamma {gamma:g}, g0 {target:g})", "wasserstein", "gp", gamma,
                  gp_target=target)


def _noise(std: float) -> Method:
    return Method(f"instance noise (sigma {std:g})", "minimax", noise_std=std)


def _penalised(penalty: str, gamma: float, loss: str = "minimax", prefix: str = "") -> Method:
    return Method(f"{prefix}{penalty.upper()} (gamma {gamma:g})", loss, penalty, gamma)


def consensus_method(gamma: float, form: str = "exact") -> Method:
    """Consensus optimisation on the GAN with weight ``gamma`` and the given gradient form."""
    suffix = "" if form == "exact" else ", official form"
    return Method(f"consensus (gamma {gamma:g}{suffix})", "minimax", consensus=gamma,
                  consensus_form=form)


PROTOCOLS = {
    "notebook": Protocol(
        "notebook (the paper's figures)",
        {"gan": Method("GAN", "minimax"),
         "nsgan": Method("non-saturating GAN", "nonsaturating"),
         "wgan": _wgan(1.0),
         "wgan_gp": _wgan_gp(0.7, 1.0),
         "instance_noise": _noise(0.7),
         "r1": _penalised("r1", 0.3),
         "r1_critical": _penalised("r1", 1.0),
         "consensus": consensus_method(1.0),
         "nsgan_r1": _penalised("r1", 0.3, "nonsaturating", "NS-GAN + ")},
        g_first=True, clip_start=True, source=NOTEBOOK_SOURCE),
    "simulation_defaults": Protocol(
        "simulation defaults",
        {"gan": Method("GAN", "minimax"),
         "wgan": _wgan(0.3),
         "wgan_gp": _wgan_gp(1.0, 0.3),
         "consensus": consensus_method(0.3),
         "instance_noise": _noise(1.0),
         "r1": _penalised("r1", 0.3),
         "r2": _penalised("r2", 0.3)},
        g_first=False, clip_start=False,
        source="default arguments of the classes in notebooks/diracgan/gans.py; "
               "gan_jax's alternating order"),
}
MAIN = "notebook"
CONSENSUS_GAMMAS = (0.3, 1.0)
# The paper's verdicts: these converge under every update scheme, the rest do not.
CONVERGENT = ("instance_noise", "r1", "r1_critical", "r2", "nsgan_r1", "consensus")
ORBITING = ("wgan", "wgan_gp")


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
            lambda x, labels="real": _logits(psi, x) / g0, real, fake, uniform)
    # r1/r2 return 1/2 |grad D|^2, so the weight is the paper's gamma.
    return method.gamma * penalty(lambda x, labels="real": _logits(psi, x), real, fake, uniform)


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


def _game_field(method: Method, p: jax.Array) -> jax.Array:
    """v(theta, psi) = (-dG_loss/dtheta, -dD_loss/dpsi) [2], without consensus."""
    theta, psi = p[0], p[1]
    g_grad = jax.grad(lambda t: game_losses(method, t, psi)[1])(theta)
    d_grad = jax.grad(lambda s: game_losses(method, theta, s)[0])(psi)
    return -jnp.stack([g_grad, d_grad])


def consensus_gradient(method: Method, p: jax.Array) -> jax.Array:
    """grad(|v|^2 / 2) at p [2] ("exact"), or the notebook's form of it ("official").

    The official form keeps the part f'(t)^2 (theta, psi), t = psi theta, in which f'(t) is
    held fixed, and halves the rest, the chain-rule part through f'(t)^2; it is defined for
    the GAN's field only. f'(t) is the derivative of G's minimax loss, f(psi theta), in t.
    """
    exact = jax.grad(lambda q: 0.5 * jnp.sum(_game_field(method, q) ** 2))(p)
    if method.consensus_form == "exact":
        return exact
    if method.consensus_form != "official":
        raise ValueError(f"unknown consensus_form {method.consensus_form!r}; "
                         "allowed: exact, official")
    if (method.loss, method.penalty, method.noise_std) != ("minimax", "none", 0.0):
        raise ValueError("the official consensus form is the GAN's (minimax loss, no penalty, "
                         "no instance noise)")
    g_loss = losses.get_objective("minimax").g_loss
    f_prime = jax.grad(lambda t: g_loss(None, -jnp.reshape(t, (1,))))(p[0] * p[1])
    return 0.5 * (exact + f_prime ** 2 * p)


def vector_field(method: Method, p: jax.Array) -> jax.Array:
    """v(theta, psi) [2]; with consensus, v - gamma grad(|v|^2 / 2) (see consensus_gradient)."""
    v = _game_field(method, p)
    if method.consensus == 0:
        return v
    return v - method.consensus * consensus_gradient(method, p)


def _clip_psi(method: Method, p: jax.Array) -> jax.Array:
    if method.clip <= 0:
        return p
    return p.at[1].set(penalties.clip_weights(p[1], method.clip))


def update(method: Method, p: jax.Array, scheme: str, n_disc: int = 1,
           g_first: bool = False) -> jax.Array:
    """One training iteration from p = (theta, psi) [2] with step H for both players.

    "simultaneous": both players step along v(p). "alternating": ``n_disc`` D steps and one G
    step, each at the other player's newest value; ``g_first`` puts the G step first (the
    notebook), otherwise last (gan_jax.steps.train_step). psi is clipped after every step.
    """
    if scheme == "simultaneous":
        return _clip_psi(method, p + H * vector_field(method, p))

    def g_step(p):
        return _clip_psi(method, p.at[0].add(H * vector_field(method, p)[0]))

    def d_step(_, p):
        return _clip_psi(method, p.at[1].add(H * vector_field(method, p)[1]))

    if g_first:
        p = g_step(p)
    p = lax.fori_loop(0, n_disc, d_step, p)  # one trace of the field for any n_disc
    return p if g_first else g_step(p)


SCHEMES = [("simultaneous", 1)] + [("alternating", n) for n in N_DISC]


def _key(scheme: str, n_disc: int) -> str:
    return f"{scheme}/n_disc={n_disc}"


def start_point(method: Method, clip_start: bool) -> np.ndarray:
    """(theta0, psi0) = START, psi clipped into the WGAN range when ``clip_start``."""
    start = np.asarray(START, np.float64)
    if clip_start and method.clip > 0:
        start[1] = np.clip(start[1], -method.clip, method.clip)
    return start


@functools.partial(jax.jit, static_argnums=(0, 2, 3))
def _paths(method: Method, start: jax.Array, num_steps: int, g_first: bool) -> dict:
    paths = {}
    for scheme, n_disc in SCHEMES:
        def step(p, _, scheme=scheme, n_disc=n_disc):
            p = update(method, p, scheme, n_disc, g_first)
            return p, p

        _, path = lax.scan(step, start, None, length=num_steps)
        paths[_key(scheme, n_disc)] = jnp.concatenate([start[None], path])
    return paths


@functools.partial(jax.jit, static_argnums=(0, 1))
def _jacobians(method: Method, g_first: bool) -> dict:
    zero = jnp.zeros(2, jnp.float64)
    jacobians = {"continuous": jax.jacfwd(lambda p: vector_field(method, p))(zero)}
    for scheme, n_disc in SCHEMES:
        jacobians[_key(scheme, n_disc)] = jax.jacfwd(
            lambda p, s=scheme, n=n_disc: update(method, p, s, n, g_first))(zero)
    return jacobians


def trajectories(method: Method, num_steps: int = NUM_STEPS, g_first: bool = False,
                 clip_start: bool = False) -> dict:
    """{scheme key: iterates [num_steps + 1, 2], the start first}, float64 (call it under
    ``jax.enable_x64(True)``), for every scheme of :data:`SCHEMES`."""
    start = jnp.asarray(start_point(method, clip_start), jnp.float64)
    return {k: np.asarray(v, np.float64)
            for k, v in _paths(method, start, num_steps, g_first).items()}


def simulate(method: Method, num_steps: int = NUM_STEPS, g_first: bool = False,
             clip_start: bool = False) -> tuple[dict, dict]:
    """Trajectories and Jacobians of one method (float64; call it under
    ``jax.enable_x64(True)``).

    Returns ``(trajectories(...), {"continuous" or scheme key: jax.jacfwd of the field or of
    the update operator at (0, 0), [2, 2]})``.
    """
    jacobians = _jacobians(method, g_first)
    return (trajectories(method, num_steps, g_first, clip_start),
            {k: np.asarray(v, np.float64) for k, v in jacobians.items()})


def analytic_jacobian(method: Method) -> np.ndarray:
    """The paper's Jacobian of v at (0, 0), [[J11, -a], [a, J22]] with a = f'(0) (1: WGAN).

    J11 = -gamma_c a^2 and J22 = -gamma_c a^2 + 2 f''(0) sigma^2 - gamma_R for consensus
    weight gamma_c, instance noise sigma and an R1/R2 weight gamma_R. Its eigenvalues
    (Sec. 2-3): GAN +-i f'(0); WGAN +-i; consensus -gamma f'(0)^2 +- i f'(0); instance noise
    f''(0) sigma^2 +- sqrt(f''(0)^2 sigma^4 - f'(0)^2); R1/R2 -gamma/2 +- sqrt(gamma^2/4 -
    f'(0)^2). The non-saturating GAN has the GAN's. WGAN-GP has none: its field is not
    differentiable at psi = 0.
    """
    if method.penalty not in ("none", "r1", "r2") or method.loss not in (
            "minimax", "nonsaturating", "wasserstein"):
        raise ValueError(f"no closed form for {method.label}")
    a = 1.0 if method.loss == "wasserstein" else F1_GAN
    f2 = 0.0 if method.loss == "wasserstein" else F2_GAN
    consensus = -method.consensus * a ** 2
    penalty = method.gamma if method.penalty in ("r1", "r2") else 0.0
    return np.array([[consensus, -a],
                     [a, consensus + 2.0 * f2 * method.noise_std ** 2 - penalty]])


def analytic_eigenvalues(method: Method, scheme: str, n_disc: int = 1) -> np.ndarray:
    """Eigenvalues of the paper's Jacobian of the continuous field or of an update operator.

    simultaneous: 1 + h lambda. alternating: the product of the linearised D steps
    [[1, 0], [h J21, 1 + h J22]]^n_disc and the G step [[1 + h J11, h J12], [0, 1]] (in either
    order: the same eigenvalues); for the unregularised GAN and WGAN these are the paper's
    closed form 1 - alpha^2/2 +- sqrt((1 - alpha^2/2)^2 - 1), alpha = sqrt(n_disc) h f'(0).
    """
    j = analytic_jacobian(method)
    if scheme == "continuous":
        trace, det = np.trace(j), np.linalg.det(j)
        return trace / 2 + np.array([1, -1]) * np.sqrt(complex(trace ** 2 / 4 - det))
    if scheme == "simultaneous":
        return 1.0 + H * analytic_eigenvalues(method, "continuous")
    if not j[0, 0] and not j[1, 1]:
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


@functools.partial(jax.jit, static_argnums=0)
def _field_on(method: Method, points: jax.Array) -> jax.Array:
    return jax.vmap(lambda p: vector_field(method, p))(points)


def _panel(ax, method: Method, runs: list[tuple[str, np.ndarray, str, str]], title: str,
           view: float = 2.2) -> None:
    """The field of ``method`` on the notebook's 10 x 10 grid over [-2, 2]^2 and trajectories
    (label, iterates, line style, colour); for wider paths the view and the grid grow, the
    view to +-4 at most (the legend gives every end point)."""
    lim = min(4.0, max(view, 1.05 * max(float(np.max(np.abs(xy))) for _, xy, _, _ in runs)))
    span = 2.0 if lim <= view else 0.9 * lim
    grid = np.linspace(-span, span, 10)
    tt, ss = np.meshgrid(grid, grid)
    field = _field_on(method, jnp.asarray(np.stack([tt.ravel(), ss.ravel()], -1), jnp.float64))
    field = np.asarray(field).reshape(*tt.shape, 2)
    ax.quiver(tt, ss, field[..., 0], field[..., 1], color="0.6", angles="xy", width=0.005)
    if method.clip > 0:
        for side in (-1, 1):
            ax.axhspan(side * method.clip, side * 1e3, color="0.85", zorder=0)
    for label, xy, style, colour in runs:
        end = xy[-1]
        ax.plot(xy[:, 0], xy[:, 1], style, lw=1.2, color=colour,
                label=f"{label}: end ({end[0]:.2g}, {end[1]:.2g})")
        ax.plot(*xy[0], "o", color="tab:red", ms=5)
    ax.plot(0, 0, "k*", ms=9)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize="small")
    ax.tick_params(labelsize="x-small")
    ax.legend(loc="lower left", fontsize=6.5)


def _alternating_runs(paths: dict) -> list[tuple[str, np.ndarray, str, str]]:
    return [(f"n_d = {n}", paths[_key("alternating", n)], style, colour)
            for n, style, colour in zip(N_DISC, ("-", "--"), ("tab:blue", "tab:orange"),
                                        strict=True)]


def _draw(path: str, paths: dict, consensus_paths: dict) -> None:
    """Rows 1-2: the notebook protocol (GAN simultaneous, every method alternating). Row 3:
    the simulation defaults where their settings differ, and the two consensus forms."""
    fig = Figure(figsize=(17, 11.4), dpi=60)
    axes = fig.subplots(3, 5).ravel()
    notebook = PROTOCOLS["notebook"]
    gan = paths["notebook"]["gan"]
    _panel(axes[0], notebook.methods["gan"],
           [("simultaneous", gan[_key("simultaneous", 1)], "-", "tab:purple")],
           "notebook: GAN, simultaneous")
    for ax, (name, method) in zip(axes[1:10], notebook.methods.items(), strict=True):
        _panel(ax, method, _alternating_runs(paths["notebook"][name]),
               f"notebook: {method.label}, alternating")
    defaults = PROTOCOLS["simulation_defaults"]
    for ax, name in zip(axes[10:14], ("wgan", "wgan_gp", "instance_noise", "consensus"),
                        strict=True):
        method = defaults.methods[name]
        _panel(ax, method, _alternating_runs(paths["simulation_defaults"][name]),
               f"defaults: {method.label}, alternating")
    forms = consensus_paths["notebook"]["gamma=1"]
    key = _key("alternating", 5)
    _panel(axes[14], notebook.methods["consensus"],
           [("exact", forms["exact"][key], "-", "tab:blue"),
            ("official", forms["official"][key], "--", "tab:green")],
           "notebook: consensus, n_d = 5: exact vs official")
    fig.suptitle(f"Dirac-GAN (Mescheder et al. 2018): {NUM_STEPS} iterations of h = {H} from "
                 "(1, 1) (red dot) towards the equilibrium (0, 0) (star), axes theta and psi\n"
                 "rows 1-2: the notebook's settings (G step first); row 3: the simulation "
                 "defaults (D steps first) and the two consensus gradients; grey: psi outside "
                 "the WGAN clip", fontsize="medium")
    fig.tight_layout()
    fig.savefig(path)


def _draw_quick(path: str, paths: dict) -> None:
    fig = Figure(figsize=(5, 5), dpi=60)
    ax = fig.add_subplot()
    for protocol, methods in paths.items():
        for name, runs in methods.items():
            xy = runs["alternating/n_disc=1"]
            ax.plot(xy[:, 0], xy[:, 1], label=f"{protocol}: {name}")
    ax.legend(fontsize="x-small")
    fig.savefig(path)


def _finals(paths: dict) -> dict:
    return {k: [float(v) for v in xy[-1]] for k, xy in paths.items()}


def _converged(paths: dict) -> bool:
    return all(np.hypot(*xy[-1]) < CONVERGED for xy in paths.values())


def _consensus_forms(protocol: Protocol, gammas, cache: dict) -> dict:
    """Both consensus forms at each gamma under ``protocol``: final points and where the
    convergence verdict (final distance < CONVERGED) differs."""
    out, paths = {}, {}
    for gamma in gammas:
        runs = {}
        for form in ("exact", "official"):
            method = consensus_method(gamma, form)
            if method not in cache:
                cache[method] = trajectories(method, NUM_STEPS, protocol.g_first,
                                             protocol.clip_start)
            runs[form] = cache[method]
        keys = list(runs["exact"])
        paths[f"gamma={gamma:g}"] = runs
        out[f"gamma={gamma:g}"] = {
            "exact": _finals(runs["exact"]), "official": _finals(runs["official"]),
            "max_abs_difference": float(max(np.max(np.abs(runs["exact"][k][-1]
                                                          - runs["official"][k][-1]))
                                            for k in keys)),
            "convergence_differs": [
                k for k in keys
                if (np.hypot(*runs["exact"][k][-1]) < CONVERGED)
                != (np.hypot(*runs["official"][k][-1]) < CONVERGED)]}
    return {"forms": out, "paths": paths}


def run(out_dir: str, quick: bool = False) -> dict:
    """Both protocols' trajectories, final points and eigenvalue checks, and the consensus
    forms compared; draws dirac_gan.png.

    ``quick``: the GAN, R1 and consensus (both forms, gamma 1) under the notebook protocol and
    the GAN and R1 under the simulation defaults (the tests' key numbers).
    """
    os.makedirs(out_dir, exist_ok=True)
    selected = {"notebook": ["gan", "r1", "consensus"], "simulation_defaults": ["gan", "r1"]}
    paths, finals, distances, eigen, errors = {}, {}, {}, {}, []
    forms, consensus_paths = {}, {}
    with jax.enable_x64(True):
        for pname, protocol in PROTOCOLS.items():
            names = selected[pname] if quick else list(protocol.methods)
            cache = {}
            for name in names:
                method = protocol.methods[name]
                paths.setdefault(pname, {})[name], jacobians = simulate(
                    method, NUM_STEPS, protocol.g_first, protocol.clip_start)
                cache[method] = paths[pname][name]
                finals.setdefault(pname, {})[name] = _finals(paths[pname][name])
                distances.setdefault(pname, {})[name] = {
                    k: float(np.hypot(*xy[-1])) for k, xy in paths[pname][name].items()}
                if method.penalty == "gp":
                    # (0, 0) is a stationary point of the penalised field only because
                    # d|psi|/dpsi is read as 0 there; the field is not differentiable at it.
                    continue
                for key, jac in jacobians.items():
                    scheme, _, n = key.partition("/n_disc=")
                    ours = np.linalg.eigvals(jac)
                    paper = analytic_eigenvalues(method, scheme, int(n or 1))
                    errors.append(float(np.max(np.abs(_sorted(ours) - _sorted(paper)))))
                    eigen.setdefault(pname, {}).setdefault(name, {})[key] = {
                        "ours": _pairs(ours), "paper": _pairs(paper),
                        "max_abs_error": errors[-1],
                        # Stability: max real part < 0 (continuous), spectral radius < 1.
                        "max_real_part": float(np.max(ours.real)),
                        "spectral_radius": float(np.max(np.abs(ours)))}
            gammas = [protocol.methods["consensus"].consensus] if quick else CONSENSUS_GAMMAS
            if quick and pname != MAIN:
                continue
            compared = _consensus_forms(protocol, gammas, cache)
            forms[pname], consensus_paths[pname] = compared["forms"], compared["paths"]
        if quick:
            _draw_quick(os.path.join(out_dir, "dirac_gan.png"), paths)
        else:
            _draw(os.path.join(out_dir, "dirac_gan.png"), paths, consensus_paths)

    start = float(np.hypot(*START))
    checks = {}
    for pname, protocol in PROTOCOLS.items():
        ran = paths[pname]
        tag = f"[{pname}]"
        conv = [n for n in CONVERGENT if n in ran and n != "consensus"]
        checks[f"{tag} {', '.join(conv)} converge to (0, 0) (all three schemes)"] = all(
            _converged(ran[n]) for n in conv)
        checks[f"{tag} gan does not converge (final distance >= {NOT_SHRUNK} x start's, all "
               "three schemes)"] = all(
            d >= NOT_SHRUNK * start for d in distances[pname]["gan"].values())
        if "nsgan" in ran:
            checks[f"{tag} nsgan does not converge within {NUM_STEPS} iterations (final "
                   f"distance >= {CONVERGED}, all three schemes)"] = all(
                d >= CONVERGED for d in distances[pname]["nsgan"].values())
        if pname in forms:
            official = forms[pname][f"gamma={protocol.methods['consensus'].consensus:g}"]
            checks[f"{tag} consensus with the notebook's official gradient converges (all "
                   "three schemes)"] = all(np.hypot(*xy) < CONVERGED
                                           for xy in official["official"].values())
        orbit = [n for n in ORBITING if n in ran]
        if orbit:
            checks[f"{tag} {', '.join(orbit)} do not converge (all three schemes; the last "
                   f"100 iterates stay {ORBIT} away)"] = all(
                np.min(np.hypot(*xy[-100:].T)) > ORBIT for n in orbit for xy in ran[n].values())
        gan = eigen[pname]["gan"]
        checks[f"{tag} unregularised simultaneous GD: eigenvalues 1 +- i h f'(0), modulus > 1"] = (
            gan["simultaneous/n_disc=1"]["spectral_radius"] > 1)
        checks[f"{tag} unregularised alternating GD: eigenvalues of modulus 1 (n_d = 1, 5)"] = all(
            abs(gan[_key("alternating", n)]["spectral_radius"] - 1) < EIG_TOL for n in N_DISC)
    checks["eigenvalues of every Jacobian (both protocols) match the paper's closed forms"] = (
        max(errors) < EIG_TOL)

    def verdicts(pname: str) -> str:
        ran = paths[pname]
        conv = [n for n in ran if _converged(ran[n])]
        return (f"converge: {', '.join(conv) or 'none'}; not: "
                f"{', '.join(n for n in ran if n not in conv) or 'none'}")

    main_forms = forms[MAIN]["gamma=1"]
    differs = (f"the exact gradient does not at {', '.join(main_forms['convergence_differs'])}"
               if main_forms["convergence_differs"] else "so does the exact gradient")
    ours = (f"notebook protocol (|end| < {CONVERGED} under all three schemes): "
            f"{verdicts(MAIN)}; consensus (gamma 1) with the notebook's gradient converges, "
            f"{differs}; simulation defaults: "
            f"{verdicts('simulation_defaults')}; eigenvalues within {max(errors):.0e}")
    return {
        "title": "Mescheder et al. 2018, Dirac-GAN (Sec. 2-3, Figs. 1-3), notebook protocol",
        "paper": "converge: gradient penalties (R1, R2), instance noise, consensus; not: GAN, "
                 "WGAN, WGAN-GP",
        "ours": ours,
        "numbers": {
            "main_protocol": MAIN,
            "protocols": {
                pname: {
                    "label": protocol.label,
                    "source": protocol.source,
                    "alternating_order": ("G step, then n_d D steps" if protocol.g_first
                                          else "n_d D steps, then G step"),
                    "start_clipped_to_wgan_range": protocol.clip_start,
                    "h": H, "num_steps": NUM_STEPS, "start": list(START),
                    "methods": {n: protocol.methods[n]._asdict() for n in paths[pname]},
                    "start_points": {n: start_point(protocol.methods[n], protocol.clip_start)
                                     for n in paths[pname]},
                    "final_theta_psi": finals[pname],
                    "final_distance": distances[pname],
                    "eigenvalues": eigen[pname],
                } for pname, protocol in PROTOCOLS.items()},
            "consensus_forms": forms,
            "differences_from_notebook": {
                "consensus": "exact grad |v|^2/2 by default; the notebook's form halves its "
                             "term r^2 f'(t) f''(t) (psi, theta), t = psi theta (consensus_forms "
                             "compares them)",
                "instance_noise": "expectation by 40-point Gauss-Hermite quadrature, not "
                                  "1,000 fresh normal draws per evaluation",
                "wgan_gp": "|psi| read as sqrt(psi^2 + 1e-12 g0^2) (gan_jax's gradient norm); "
                           "notebook protocol within 1e-5 of the exact |psi| on every iterate",
            },
            "start_distance": start,
            "max_eigenvalue_error": max(errors),
        },
        "checks": checks,
        "tolerances": {"converged_distance": CONVERGED, "not_shrunk_ratio": NOT_SHRUNK,
                       "orbit_min_distance_last_100": ORBIT,
                       "eigenvalues_abs": EIG_TOL},
    }


if __name__ == "__main__":
    common.main(run, __doc__)
