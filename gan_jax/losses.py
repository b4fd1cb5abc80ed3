"""Divergence registry: the GAN objectives, by name, as pure functions of D's raw outputs.

Each entry of :data:`LOSSES` is an :class:`Objective`, a pair of losses that the training step
minimises in turn: ``d_loss`` over the discriminator's parameters (Step 1 of the seed's loop,
G fixed) and ``g_loss`` over the generator's (Step 2, D fixed). ``config.loss`` names the entry.

Conventions shared by every function here:

* Inputs are D's raw, unbounded outputs, float arrays of shape ``[B]`` (any shape works; every
  loss is a mean over all elements). For the classifier losses they are logits, D(x) =
  sigmoid(logit); for the regression losses they are the scores regressed onto the targets.
  The discriminator never applies a sigmoid itself, so that no probability is ever rounded
  to exactly 0 or 1 before a log is taken.
* Every function returns a float scalar to MINIMISE (a "value" to maximise is negated).
* Logs of probabilities are written with ``jax.nn.softplus`` / ``jax.nn.log_sigmoid``:
  log D = -softplus(-l) and log(1 - D) = -softplus(l). ``log(sigmoid(l))`` would return
  -inf once sigmoid(l) underflows (l below about -88 in float32) and its gradient would be
  NaN; the softplus forms stay finite, with exact gradients, for any finite logit.
* The signature is always ``(real_logits, fake_logits)``, even where one is unused, so that
  the training step calls every variant the same way. ``Objective.g_needs_real`` tells the
  G step whether it must spend a forward pass of D on real data.

The families, one section each below: classification (``minimax``, ``nonsaturating``) and
regression (``regression``), the seed's two readings of D's job; least squares with a general
coding (``lsgan``, ``lsgan_011``; Mao et al. 2017); critics (``wasserstein``, Arjovsky et al.
2017; ``hinge``, Lim & Ye 2017); relativistic (``relativistic``, ``relativistic_average``;
Jolicoeur-Martineau 2018); and f-GAN (``fgan_<name>`` for each record of
:data:`F_DIVERGENCES`; Nowozin et al. 2016), whose conjugates need :func:`lambert_w0` and
:func:`log1mexp`.

Nothing is clipped. Every entry is finite, with finite gradients, for raw outputs up to at
least +-1e4, except five f-GANs whose losses are exponential in the output: they are finite
up to |v| = 88 and overflow float32 past ~88.7 on one side, as :func:`f_gan` lists.

Adding a variant is one function, one line in :data:`LOSSES` and one test
(``tests/test_losses.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax


class Objective(NamedTuple):
    """The two losses of one GAN variant; both map D's raw outputs to a scalar to minimise.

    ``d_loss(real_logits [B], fake_logits [B]) -> []`` and
    ``g_loss(real_logits [B] | None, fake_logits [B]) -> []``.
    """

    d_loss: Callable[[jax.Array, jax.Array], jax.Array]
    g_loss: Callable[[jax.Array | None, jax.Array], jax.Array]
    # True when the generator loss reads D's output on real data (e.g. relativistic losses);
    # otherwise the G step skips that forward pass and passes None.
    g_needs_real: bool = False


def d_probability(logits: jax.Array) -> jax.Array:
    """D's probability that a sample is real, sigmoid(logits), same shape; for logging only."""
    return jax.nn.sigmoid(logits)


# --- classification: D is a real-vs-generated classifier (Goodfellow et al., 2014) ----------


def classifier_d_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """Cross-entropy of D with real labelled 1 and generated labelled 0, summed over the halves.

    loss = mean(softplus(-real)) + mean(softplus(fake))
         = -(E_x[log D(x)] + E_z[log(1 - D(G(z)))]) = -V(D, G),

    the negated value function of Goodfellow et al., "Generative Adversarial Nets", NeurIPS
    2014, eq. 1. The two means are summed, not averaged, so that -d_loss is V exactly and
    Theorem 1 reads off the loss: at the optimal D it equals log 4 - 2 JSD(p_data || p_G).
    A D that cannot tell the two apart (D = 1/2 everywhere) scores log 4.

    Args: real_logits [B], fake_logits [B]. Returns: scalar.
    """
    return jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(jax.nn.softplus(fake_logits))


def value_function(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))], the quantity D maximises.

    Goodfellow et al. 2014, eq. 1; equal to -classifier_d_loss. Kept for logging and for
    reproductions that plot V itself (at the optimal D it is -log 4 + 2 JSD, Theorem 1).

    Args: real_logits [B], fake_logits [B]. Returns: scalar.
    """
    return jnp.mean(jax.nn.log_sigmoid(real_logits)) + jnp.mean(jax.nn.log_sigmoid(-fake_logits))


def minimax_g_loss(real_logits: jax.Array | None, fake_logits: jax.Array) -> jax.Array:
    """The generator's side of the minimax game: minimise E_z[log(1 - D(G(z)))].

    loss = mean(log(1 - sigmoid(fake))) = -mean(softplus(fake))  (Goodfellow et al. 2014,
    eq. 1). Its gradient per logit is -sigmoid(fake): it vanishes exactly where D confidently
    rejects the samples, i.e. early in training (the saturation of Section 3 of the paper).
    ``real_logits`` is unused.

    Args: real_logits [B] or None, fake_logits [B]. Returns: scalar.
    """
    del real_logits
    return -jnp.mean(jax.nn.softplus(fake_logits))


def nonsaturating_g_loss(real_logits: jax.Array | None, fake_logits: jax.Array) -> jax.Array:
    """The "-log D" trick: minimise -E_z[log D(G(z))] instead of E_z[log(1 - D(G(z)))].

    loss = mean(softplus(-fake))  (Goodfellow et al. 2014, Section 3). Same fixed point as
    the minimax loss, but the gradient per logit is -sigmoid(-fake), close to -1 where D
    rejects the samples. Per sample its gradient is the minimax one times (1 - D) / D.
    ``real_logits`` is unused.

    Args: real_logits [B] or None, fake_logits [B]. Returns: scalar.
    """
    del real_logits
    return jnp.mean(jax.nn.softplus(-fake_logits))


# --- regression: D regresses real onto 1 and generated onto 0 (the seed's second reading) ---


def regression_d_loss(real_scores: jax.Array, fake_scores: jax.Array) -> jax.Array:
    """Squared error of D's raw output to target 1 for real, 0 for generated.

    loss = mean((real - 1)^2) + mean(fake^2): the least-squares GAN of Mao et al., "Least
    Squares Generative Adversarial Networks", ICCV 2017, with the 0-1 coding a = 0, b = 1
    (and without their factor 1/2). By their Proposition 1 the pointwise optimum is
    D*(x) = p_data(x) / (p_data(x) + p_G(x)), the same posterior as the classifier's. An
    output of 1/2 everywhere scores 0.5.

    Args: real_scores [B], fake_scores [B]. Returns: scalar.
    """
    return jnp.mean(jnp.square(real_scores - 1.0)) + jnp.mean(jnp.square(fake_scores))


def regression_g_loss(real_scores: jax.Array | None, fake_scores: jax.Array) -> jax.Array:
    """The generator wants its samples regressed onto the real target: mean((fake - 1)^2).

    Mao et al. 2017, eq. 2 with c = 1 (without the factor 1/2). ``real_scores`` is unused.

    Args: real_scores [B] or None, fake_scores [B]. Returns: scalar.
    """
    del real_scores
    return jnp.mean(jnp.square(fake_scores - 1.0))


# --- least squares with a general coding (Mao et al., 2017) ---------------------------------


def least_squares(a: float, b: float, c: float) -> Objective:
    """The least-squares GAN with coding (a, b, c): D regresses generated onto a, real onto b;
    G wants its samples regressed onto c.

    d_loss = 1/2 mean((real - b)^2) + 1/2 mean((fake - a)^2),
    g_loss = 1/2 mean((fake - c)^2)

    (Mao et al., "Least Squares Generative Adversarial Networks", ICCV 2017). For a fixed G
    the pointwise optimum is D*(x) = (b p_data(x) + a p_G(x)) / (p_data(x) + p_G(x)). Their
    Theorem 1: if b - c = 1 and b - a = 2, e.g. (a, b, c) = (-1, 1, 0), then at D* the G
    objective extended by its G-independent twin 1/2 E_data[(D(x) - c)^2] is C(G) with
    2 C(G) = ∫ (p_data - p_G)^2 / (p_data + p_G) dx, which they write as the Pearson
    chi^2 divergence chi^2_Pearson(p_data + p_G || 2 p_G). Quadratic in the scores: finite,
    with finite gradients, for any score below ~1e19 in float32.

    Returns an :class:`Objective`; its ``g_loss`` ignores ``real_scores``.
    """

    def d_loss(real_scores: jax.Array, fake_scores: jax.Array) -> jax.Array:
        return (0.5 * jnp.mean(jnp.square(real_scores - b))
                + 0.5 * jnp.mean(jnp.square(fake_scores - a)))

    def g_loss(real_scores: jax.Array | None, fake_scores: jax.Array) -> jax.Array:
        del real_scores
        return 0.5 * jnp.mean(jnp.square(fake_scores - c))

    d_loss.__qualname__ = d_loss.__name__ = f"least_squares_d_loss(a={a}, b={b})"
    g_loss.__qualname__ = g_loss.__name__ = f"least_squares_g_loss(c={c})"
    return Objective(d_loss, g_loss)


# --- critics: D's output is a score, not a probability ---------------------------------------


def wasserstein_d_loss(real_scores: jax.Array, fake_scores: jax.Array) -> jax.Array:
    """The WGAN critic's loss: mean(fake) - mean(real).

    The negated estimate of E_data[D(x)] - E_z[D(G(z))], which over 1-Lipschitz critics is
    the Kantorovich-Rubinstein dual form of the Wasserstein-1 distance (Arjovsky et al.,
    "Wasserstein GAN", ICML 2017). This objective needs a Lipschitz device composed with it:
    weight clipping (the paper's), a gradient penalty or spectral normalisation, all
    implemented as separate regularisers. Without one the loss is unbounded below and the
    critic's outputs diverge. Linear: finite for any finite score.

    Args: real_scores [B], fake_scores [B]. Returns: scalar.
    """
    return jnp.mean(fake_scores) - jnp.mean(real_scores)


def hinge_d_loss(real_scores: jax.Array, fake_scores: jax.Array) -> jax.Array:
    """The hinge (SVM) loss of D: mean(relu(1 - real)) + mean(relu(1 + fake)).

    Lim & Ye, "Geometric GAN", 2017; Miyato et al., "Spectral Normalization for Generative
    Adversarial Networks", ICLR 2018. Scores beyond the margins (real >= 1,
    fake <= -1) contribute neither loss nor gradient. Piecewise linear: finite for any
    finite score.

    Args: real_scores [B], fake_scores [B]. Returns: scalar.
    """
    return jnp.mean(jax.nn.relu(1.0 - real_scores)) + jnp.mean(jax.nn.relu(1.0 + fake_scores))


def critic_g_loss(real_scores: jax.Array | None, fake_scores: jax.Array) -> jax.Array:
    """The generator raises the critic's score of its samples: -mean(fake).

    The G loss of both WGAN (Arjovsky et al. 2017) and the hinge GAN (Miyato et al. 2018).
    Its gradient per score is -1/B whatever D says. ``real_scores`` is unused.

    Args: real_scores [B] or None, fake_scores [B]. Returns: scalar.
    """
    del real_scores
    return -jnp.mean(fake_scores)


# --- relativistic: D judges whether real data is more realistic than generated data -------


def relativistic_d_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """RSGAN: D classifies pairs, real scored above generated: mean(softplus(fake - real)).

    loss = -E[log sigmoid(C(x_r) - C(x_f))] over pairs (x_r, x_f), here the i-th real and
    the i-th generated example of the batch (shapes must match), in Jolicoeur-Martineau,
    "The relativistic discriminator: a key element missing from standard GAN", ICLR 2019
    (arXiv 2018), RSGAN. Finite for any finite logits (softplus).

    Args: real_logits [B], fake_logits [B]. Returns: scalar.
    """
    return jnp.mean(jax.nn.softplus(fake_logits - real_logits))


def relativistic_g_loss(real_logits: jax.Array | None, fake_logits: jax.Array) -> jax.Array:
    """RSGAN's generator: the same pairs with roles swapped, mean(softplus(real - fake)).

    Jolicoeur-Martineau 2018. Needs D's outputs on real data (``g_needs_real``).

    Args: real_logits [B], fake_logits [B]. Returns: scalar.
    """
    return jnp.mean(jax.nn.softplus(real_logits - fake_logits))


def relativistic_average_d_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """RaSGAN: each sample against the other half's mean logit.

    loss = mean(softplus(mean(fake) - real)) + mean(softplus(fake - mean(real)))
         = -E_x[log sigmoid(C(x) - E_z C(G(z)))] - E_z[log(1 - sigmoid(C(G(z)) - E_x C(x)))]

    (Jolicoeur-Martineau 2018, RaSGAN). Batches need not be paired.

    Args: real_logits [B], fake_logits [B']. Returns: scalar.
    """
    return (jnp.mean(jax.nn.softplus(jnp.mean(fake_logits) - real_logits))
            + jnp.mean(jax.nn.softplus(fake_logits - jnp.mean(real_logits))))


def relativistic_average_g_loss(real_logits: jax.Array | None,
                                fake_logits: jax.Array) -> jax.Array:
    """RaSGAN's generator: D's loss with real and generated swapped.

    loss = mean(softplus(mean(real) - fake)) + mean(softplus(real - mean(fake)))
    (Jolicoeur-Martineau 2018). Needs D's outputs on real data (``g_needs_real``).

    Args: real_logits [B], fake_logits [B']. Returns: scalar.
    """
    return (jnp.mean(jax.nn.softplus(jnp.mean(real_logits) - fake_logits))
            + jnp.mean(jax.nn.softplus(real_logits - jnp.mean(fake_logits))))


# --- special functions: Lambert W, Wright omega, log(1 - e^t) -------------------------------


def _branch_coefficients(n: int) -> tuple[float, ...]:
    """Taylor coefficients of W0 in p = sqrt(2 (e z + 1)) about the branch point z = -1/e.

    The recurrence of Corless et al., "On the Lambert W function", Adv. Comput. Math. 5
    (1996), Section 4: -1, 1, -1/3, 11/72, -43/540, ...
    """
    mu, alpha = [Fraction(-1), Fraction(1)], [Fraction(2), Fraction(-1)]
    for k in range(2, n):
        alpha.append(sum((mu[j] * mu[k + 1 - j] for j in range(2, k)), Fraction(0)))
        mu.append(Fraction(k - 1, k + 1) * (mu[k - 2] / 2 + alpha[k - 2] / 4)
                  - alpha[k] / 2 - mu[k - 1] / (k + 1))
    return tuple(float(m) for m in mu)


_BRANCH_COEFFS = _branch_coefficients(12)
_BRANCH_P = 0.3  # below this p the 12-term series is exact to ~1e-9 (next term ~1.6e-3 p^12)
_HALLEY_STEPS = 3  # from a start within ~4 %, enough for float64


def _winitzki(log1p_z: jax.Array) -> jax.Array:
    """Winitzki's approximation of W0(z) from l = log(1 + z): l (1 - log(1 + l) / (2 + l))."""
    return log1p_z * (1.0 - jnp.log1p(log1p_z) / (2.0 + log1p_z))


def _halley_w(w: jax.Array, residual: Callable[[jax.Array], jax.Array]) -> jax.Array:
    """Halley's iteration on r(w) = w + log w - log z (r' = (1 + w)/w, r'' = -1/w^2)."""
    for _ in range(_HALLEY_STEPS):
        r = residual(w)
        w = w - 2.0 * r * w * (1.0 + w) / (2.0 * jnp.square(1.0 + w) + r)
    return w


@jax.custom_jvp
def lambert_w0(z: jax.Array) -> jax.Array:
    """The principal branch W0 of Lambert's W, the solution w >= -1 of w e^w = z, z >= -1/e.

    Elementwise, any shape, float32 or float64; NaN below -1/e (the float nearest -1/e
    counts as the branch point). Within p = sqrt(2 (e z + 1)) < 0.3 of the branch point it
    is the 12-term series of Corless et al. 1996 (Section 4), with e z + 1 formed as
    e (z + 1/e) in two parts, so that the cancellation near -1/e costs no accuracy.
    Elsewhere Winitzki's approximation W ~ l (1 - log(1 + l) / (2 + l)), l = log(1 + z),
    starts three Halley steps on w + log(w / z) = 0, a form that neither overflows for large
    z nor loses relative accuracy for small |z|. Relative error ~1e-7 in float32 (tested
    against scipy.special.lambertw). Derivative dW/dz = 1 / (e^W + z).
    """
    z = jnp.asarray(z)
    if not jnp.issubdtype(z.dtype, jnp.floating):
        z = z.astype(jnp.result_type(float))
    inv_e = np.asarray(math.exp(-1.0), z.dtype)
    inv_e_lo = np.asarray(math.exp(-1.0) - float(inv_e), z.dtype)
    # z + 1/e; the first sum is exact near the branch point. The barrier stops XLA from
    # folding the two constants into one (which would round the low part away).
    shift = lax.optimization_barrier(z + inv_e) + inv_e_lo
    p = jnp.sqrt(2.0 * math.e * jnp.maximum(shift, 0.0))
    series = jnp.zeros_like(p)
    for coefficient in reversed(_BRANCH_COEFFS):
        series = series * p + coefficient
    start = jnp.where(z < -0.25, series, _winitzki(jnp.log1p(jnp.maximum(z, -0.25))))
    safe_z = jnp.where((jnp.abs(z) < 1e-4) | (p < _BRANCH_P) | ~jnp.isfinite(z), 1.0, z)
    start = jnp.where(safe_z == z, start, 0.5671432904097838)  # W0(1), a harmless dummy
    w = _halley_w(start, lambda w: w + jnp.log(w / safe_z))
    w = jnp.where(p < _BRANCH_P, series, w)
    w = jnp.where(jnp.abs(z) < 1e-4, z * (1.0 - z * (1.0 - 1.5 * z)), w)  # Taylor, error ~3z^4
    w = jnp.where(z == jnp.inf, jnp.inf, w)
    return jnp.where(z >= -inv_e, w, jnp.nan)  # NaN below the branch point and for NaN


@lambert_w0.defjvp
def _lambert_w0_jvp(primals, tangents):
    (z,), (z_dot,) = primals, tangents
    w = lambert_w0(z)
    return w, z_dot / (jnp.exp(w) + z)


@jax.custom_jvp
def wright_omega(x: jax.Array) -> jax.Array:
    """Wright's omega function omega(x) = W0(e^x), the solution of w + log w = x, any real x.

    For x < 1 it is lambert_w0(exp(x)) (exp cannot overflow there; where it underflows,
    omega = e^x to the last bit). For x >= 1 it never forms e^x, which overflows float32
    beyond x ~ 88.7: Halley steps on w + log w - x = 0 from Winitzki's start. Relative error
    ~1e-7 in float32 (tested against scipy.special.wrightomega). d omega/dx = omega/(1 + omega).
    """
    x = jnp.asarray(x)
    small = lambert_w0(jnp.exp(jnp.minimum(x, 1.0)))
    big_x = jnp.maximum(x, 1.0)
    start = _winitzki(jax.nn.softplus(big_x))  # softplus(x) = log(1 + e^x)
    big = _halley_w(start, lambda w: w + jnp.log(w) - big_x)
    return jnp.where(x < 1.0, small, big)


@wright_omega.defjvp
def _wright_omega_jvp(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    w = wright_omega(x)
    return w, x_dot * w / (1.0 + w)


def log1mexp(t: jax.Array) -> jax.Array:
    """log(1 - e^t) for t <= 0, accurate for every t: Mächler, "Accurately Computing
    log(1 - exp(-|a|))", CRAN Rmpfr vignette, 2012 (log(-expm1(t)) near 0, log1p(-e^t) far
    from it). -inf at t = 0, NaN for t > 0."""
    return jnp.where(t > -math.log(2.0), jnp.log(-jnp.expm1(t)), jnp.log1p(-jnp.exp(t)))


# --- f-GAN: variational divergence minimisation (Nowozin et al., 2016) ----------------------


class FDivergence(NamedTuple):
    """One f-divergence D_f(P || Q) = E_Q[f(p/q)] in the variational form of f-GAN.

    All fields are elementwise functions of float arrays:
    ``f(u)`` (u > 0) the convex generator (f(1) = 0, except -log 4 for ``gan``, whose D_f is
    2 JSD - log 4), ``f_prime(u)`` its derivative,
    ``activation(v)`` the output activation g_f: R -> dom f*, ``conjugate(t)`` the Fenchel
    conjugate f*(t) = sup_u (t u - f(u)) on dom f*, and ``conjugate_of_activation(v)`` the
    composition f*(g_f(v)) written in closed form, finite wherever its exact value is.
    The optimal variational function is T*(x) = f'(p(x)/q(x)).
    """

    name: str
    f: Callable[[jax.Array], jax.Array]
    f_prime: Callable[[jax.Array], jax.Array]
    activation: Callable[[jax.Array], jax.Array]
    conjugate: Callable[[jax.Array], jax.Array]
    conjugate_of_activation: Callable[[jax.Array], jax.Array]


@jax.custom_jvp
def jeffrey_conjugate(t: jax.Array) -> jax.Array:
    """f*(t) = W + 1/W + t - 2 with W = W0(e^(1 - t)), the conjugate of f(u) = (u - 1) log u.

    Nowozin et al. 2016. With log W = 1 - t - W this equals 1/W - 1 - log W, which is how it
    is computed, W being Wright's omega(1 - t): log W is log(omega) for t <= 1 (omega >= 0.56)
    and 1 - t - omega for t > 1, so that neither the cancellation in 1 - t - omega (t << 0)
    nor the underflow of omega (t >> 0) harms it. The derivative, f*'(t) = 1/W = e^(-log W)
    (the maximising u), is supplied directly: autodiff through 1/W - log W would overflow
    1/W^2 already at t ~ 45.
    Finite for t < 89.7 in float32, +inf beyond (where 1/W ~ e^(t - 1) exceeds float32).
    """
    log_w = _log_omega(1.0 - t)
    return jnp.expm1(-log_w) - log_w


def _log_omega(x: jax.Array) -> jax.Array:
    omega = wright_omega(x)
    return jnp.where(x < 0.0, x - omega, jnp.log(jnp.where(x < 0.0, 1.0, omega)))


@jeffrey_conjugate.defjvp
def _jeffrey_conjugate_jvp(primals, tangents):
    (t,), (t_dot,) = primals, tangents
    log_w = _log_omega(1.0 - t)
    return jnp.expm1(-log_w) - log_w, t_dot * jnp.exp(-log_w)


_LOG2 = math.log(2.0)

# The keys of LOSSES are "fgan_" + name. The composition f*(g_f(v)) is the loss D pays on a
# generated sample; where the naive composition would overflow or cancel, the last field of
# each record is a closed form of it (right column of the second table in f_gan's docstring).
F_DIVERGENCES: dict[str, FDivergence] = {d.name: d for d in (
    FDivergence("kl", lambda u: u * jnp.log(u), lambda u: 1.0 + jnp.log(u),
                lambda v: v, lambda t: jnp.exp(t - 1.0), lambda v: jnp.exp(v - 1.0)),
    FDivergence("reverse_kl", lambda u: -jnp.log(u), lambda u: -1.0 / u,
                lambda v: -jnp.exp(-v), lambda t: -1.0 - jnp.log(-t), lambda v: v - 1.0),
    FDivergence("pearson", lambda u: jnp.square(u - 1.0), lambda u: 2.0 * (u - 1.0),
                lambda v: v, lambda t: 0.25 * jnp.square(t) + t,
                lambda v: 0.25 * jnp.square(v) + v),
    FDivergence("neyman", lambda u: jnp.square(1.0 - u) / u, lambda u: 1.0 - 1.0 / jnp.square(u),
                lambda v: -jnp.expm1(-v), lambda t: 2.0 - 2.0 * jnp.sqrt(1.0 - t),
                lambda v: -2.0 * jnp.expm1(-0.5 * v)),
    FDivergence("squared_hellinger", lambda u: jnp.square(jnp.sqrt(u) - 1.0),
                lambda u: 1.0 - 1.0 / jnp.sqrt(u), lambda v: -jnp.expm1(-v),
                lambda t: t / (1.0 - t), jnp.expm1),
    FDivergence("jeffrey", lambda u: (u - 1.0) * jnp.log(u),
                lambda u: jnp.log(u) + 1.0 - 1.0 / u, lambda v: v, jeffrey_conjugate,
                jeffrey_conjugate),
    FDivergence("js", lambda u: u * jnp.log(u) - (u + 1.0) * (jnp.log1p(u) - _LOG2),
                lambda u: _LOG2 + jnp.log(u) - jnp.log1p(u),
                lambda v: _LOG2 - jax.nn.softplus(-v), lambda t: -_LOG2 - log1mexp(t - _LOG2),
                lambda v: jax.nn.softplus(v) - _LOG2),
    FDivergence("gan", lambda u: u * jnp.log(u) - (u + 1.0) * jnp.log1p(u),
                lambda u: jnp.log(u) - jnp.log1p(u), lambda v: -jax.nn.softplus(-v),
                lambda t: -log1mexp(t), jax.nn.softplus),
)}


def f_gan(divergence: FDivergence) -> Objective:
    """The f-GAN objective of one f-divergence, on D's raw outputs v (Nowozin et al., "f-GAN:
    Training Generative Neural Samplers using Variational Divergence Minimization", NeurIPS
    2016).

    D maximises the variational lower bound F(T) = E_P[T(x)] - E_Q[f*(T(x))] <= D_f(P || Q)
    with T = g_f(v), tight at T* = f'(p/q); it minimises

        d_loss = -mean(g_f(real)) + mean(f*(g_f(fake))).

    G minimises g_loss = -mean(g_f(fake)), i.e. maximises E_Q[g_f(v)]: the paper's
    alternative to the saturating -E_Q[f*(g_f(v))] (its "practical considerations",
    generalising Goodfellow et al.'s -log D trick), recommended there because it gives
    strong gradients early in training; for ``gan`` it is exactly the non-saturating loss.
    It keeps the saddle objective's stationary point when Q can equal P; when the model
    family cannot (fitting one Gaussian to a mixture), its gradient weights points by q/p
    relative to the gradient of D_f, and G can settle elsewhere, so
    ``experiments/paper/fgan_gaussian.py`` minimises the saddle objective -d_loss itself.
    f, g_f, dom f* and f* as in the paper's Tables 1-2:

        name               f(u)                          g_f(v)               dom f*
        kl                 u log u                       v                    R
        reverse_kl         -log u                        -exp(-v)             t < 0
        pearson            (u - 1)^2                     v                    R
        neyman             (1 - u)^2 / u                 1 - exp(-v)          t < 1
        squared_hellinger  (sqrt(u) - 1)^2               1 - exp(-v)          t < 1
        jeffrey            (u - 1) log u                 v                    R
        js                 u log u - (u+1) log((1+u)/2)  log 2 - softplus(-v) t < log 2
        gan                u log u - (u+1) log(1 + u)    -softplus(-v)        t < 0

        name               f*(t)                         f*(g_f(v)) as computed
        kl                 exp(t - 1)                    exp(v - 1)
        reverse_kl         -1 - log(-t)                  v - 1
        pearson            t^2/4 + t                     v^2/4 + v
        neyman             2 - 2 sqrt(1 - t)             -2 expm1(-v/2)
        squared_hellinger  t / (1 - t)                   expm1(v)
        jeffrey            W + 1/W + t - 2,              1/W - 1 - log W (jeffrey_conjugate)
                           W = W0(e^(1 - t))
        js                 -log(2 - exp(t))              softplus(v) - log 2
        gan                -log(1 - exp(t))              softplus(v)

    With these f, D_f for ``js`` is KL(P || M) + KL(Q || M) = 2 JSD(P || Q), M = (P + Q)/2,
    and for ``gan`` it is 2 JSD - log 4.

    Overflow (float32, nothing is clipped): the losses are exact wherever the exact value is
    representable (the means divide before they sum, so a batch overflows only where one of
    its terms does). Exponential ones overflow past |v| ~ 88.7 (exp(88.72) = float32's
    largest): -g_f(v) (D's loss on real data, G's loss on generated data) is +inf for
    v < -88.72 with ``reverse_kl``, ``neyman`` and ``squared_hellinger``; f*(g_f(v)) (D's loss
    on generated data) is +inf for v > 89.72 with ``kl`` and ``jeffrey``, +inf for v > 88.72
    with ``squared_hellinger``, and -inf for v < -177.45 with ``neyman`` (so ``neyman``'s
    d_loss is NaN when both overflow). Gradients are then +-inf, never NaN. ``pearson``,
    ``js`` and ``gan`` are finite, with finite gradients, for |v| up to ~1e19.

    Returns an :class:`Objective`; its ``g_loss`` ignores ``real_logits``.
    """
    g, f_star_of_g = divergence.activation, divergence.conjugate_of_activation

    def mean(x: jax.Array) -> jax.Array:
        # Divide before summing: B terms near float32's largest value would overflow the sum.
        return jnp.sum(x / x.size)

    def d_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
        return -mean(g(real_logits)) + mean(f_star_of_g(fake_logits))

    def g_loss(real_logits: jax.Array | None, fake_logits: jax.Array) -> jax.Array:
        del real_logits
        return -mean(g(fake_logits))

    d_loss.__qualname__ = d_loss.__name__ = f"f_gan_d_loss({divergence.name})"
    g_loss.__qualname__ = g_loss.__name__ = f"f_gan_g_loss({divergence.name})"
    return Objective(d_loss, g_loss)


LOSSES: dict[str, Objective] = {
    "minimax": Objective(classifier_d_loss, minimax_g_loss),
    "nonsaturating": Objective(classifier_d_loss, nonsaturating_g_loss),
    "regression": Objective(regression_d_loss, regression_g_loss),
    "lsgan": least_squares(a=-1.0, b=1.0, c=0.0),
    "lsgan_011": least_squares(a=0.0, b=1.0, c=1.0),
    "wasserstein": Objective(wasserstein_d_loss, critic_g_loss),
    "hinge": Objective(hinge_d_loss, critic_g_loss),
    "relativistic": Objective(relativistic_d_loss, relativistic_g_loss, g_needs_real=True),
    "relativistic_average": Objective(relativistic_average_d_loss, relativistic_average_g_loss,
                                      g_needs_real=True),
    **{f"fgan_{name}": f_gan(divergence) for name, divergence in F_DIVERGENCES.items()},
}


def get_objective(name: str) -> Objective:
    """The registered :class:`Objective` called ``name``; ValueError in one line otherwise."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r} (config.loss); allowed: "
                         + ", ".join(sorted(LOSSES))) from None


# --- AC-GAN's class terms ------------------------------------------------------------------
# Odena, Olah & Shlens, "Conditional Image Synthesis with Auxiliary Classifier GANs" (ICML
# 2017), Sec. 3: D maximises L_S + L_C and G maximises L_C - L_S, where L_C is the
# log-likelihood of the correct class of real and generated images under D's auxiliary
# classifier. Written as losses to minimise, on top of any adversarial objective above (whose
# term stands for L_S): D adds w (CE(real) + CE(fake)), G adds w CE(fake).


def class_cross_entropy(class_logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean cross-entropy -log softmax(class_logits)[label] of logits [B, K], labels [B] int."""
    log_probs = jax.nn.log_softmax(class_logits.astype(jnp.float32), axis=-1)
    picked = jnp.take_along_axis(log_probs, labels[:, None].astype(jnp.int32), axis=-1)
    return -jnp.mean(picked)


def acgan_d_term(real_class_logits: jax.Array, real_labels: jax.Array,
                 fake_class_logits: jax.Array, fake_labels: jax.Array,
                 weight: float) -> jax.Array:
    """What AC-GAN adds to D's loss: ``weight * (CE(real, y_real) + CE(fake, y_fake))``."""
    return weight * (class_cross_entropy(real_class_logits, real_labels)
                     + class_cross_entropy(fake_class_logits, fake_labels))


def acgan_g_term(fake_class_logits: jax.Array, fake_labels: jax.Array,
                 weight: float) -> jax.Array:
    """What AC-GAN adds to G's loss: ``weight * CE(fake, y_fake)``, the requested labels."""
    return weight * class_cross_entropy(fake_class_logits, fake_labels)
