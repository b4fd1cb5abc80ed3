"""Tests for gan_jax.losses: closed forms, gradients, stability, and Theorem 1 of Goodfellow 2014.

Each numerical claim of the module's docstrings is checked here with an explicit tolerance.
The Theorem 1 check is sample-free: expectations are integrals, evaluated both with
scipy.integrate.quad and with the package's own losses on a fine grid. The f-GAN checks use
discrete distributions with rational masses (a batch mean is then an exact expectation) and
a pair of Gaussians; the special functions are checked against scipy.special. Float64
checks run under ``jax.enable_x64``.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats
from scipy.special import logsumexp

from gan_jax import losses
from gan_jax.losses import (
    LOSSES,
    Objective,
    classifier_d_loss,
    get_objective,
    minimax_g_loss,
    nonsaturating_g_loss,
    regression_d_loss,
    regression_g_loss,
    value_function,
)

B = 8  # batch size of the synthetic logits


def _full(value: float) -> jax.Array:
    return jnp.full((B,), value, jnp.float32)


# --- closed forms at the point of indifference -------------------------------------------


def test_classifier_d_loss_is_log4_when_d_is_one_half():
    zeros = _full(0.0)
    assert abs(float(classifier_d_loss(zeros, zeros)) - math.log(4.0)) < 1e-6
    assert abs(float(value_function(zeros, zeros)) + math.log(4.0)) < 1e-6
    np.testing.assert_allclose(losses.d_probability(zeros), 0.5, atol=0)


def test_regression_d_loss_is_one_half_at_output_one_half():
    half = _full(0.5)
    assert abs(float(regression_d_loss(half, half)) - 0.5) < 1e-7
    assert abs(float(regression_g_loss(None, half)) - 0.25) < 1e-7


def test_value_function_is_minus_classifier_d_loss():
    real = jnp.linspace(-7.0, 3.0, B)
    fake = jnp.linspace(4.0, -6.0, B)
    np.testing.assert_allclose(value_function(real, fake), -classifier_d_loss(real, fake),
                               rtol=1e-6)
    # Against the textbook form, in float64, where sigmoid cannot underflow at these logits.
    r, f = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    sig = lambda x: 1.0 / (1.0 + np.exp(-x))
    textbook = np.mean(np.log(sig(r))) + np.mean(np.log(1.0 - sig(f)))
    np.testing.assert_allclose(value_function(real, fake), textbook, rtol=1e-6)


# --- generator gradients: minimax vs non-saturating --------------------------------------


def test_minimax_and_nonsaturating_gradients_agree_in_sign_and_differ_by_odds():
    fake = jnp.linspace(-5.0, 5.0, 101)
    g_mm = jax.grad(minimax_g_loss, argnums=1)(None, fake)
    g_ns = jax.grad(nonsaturating_g_loss, argnums=1)(None, fake)
    # Both negative: a gradient-descent step on G raises every fake logit, i.e. D(G(z)).
    assert bool(jnp.all(g_mm < 0)) and bool(jnp.all(g_ns < 0))
    # Per sample, d/dl log(1 - s(l)) / d/dl (-log s(l)) = s(l) / (1 - s(l)) = exp(l) = D/(1-D).
    np.testing.assert_allclose(g_mm / g_ns, np.exp(np.asarray(fake, np.float64)), rtol=1e-5)


def test_minimax_saturates_where_d_rejects_fakes_and_nonsaturating_does_not():
    # Goodfellow et al. 2014, Section 3: early on D rejects G's samples confidently.
    fake = _full(-100.0)
    g_mm = jax.grad(minimax_g_loss, argnums=1)(None, fake)
    g_ns = jax.grad(nonsaturating_g_loss, argnums=1)(None, fake)
    assert float(jnp.max(jnp.abs(g_mm))) < 1e-30  # true value exp(-100) / B ~ 5e-45
    np.testing.assert_allclose(g_ns, -1.0 / B, rtol=1e-6)


# --- numerical stability at extreme logits -----------------------------------------------


# Where an entry overflows float32, exactly as the docstring of losses.f_gan documents it.
# -g_f(v), D's loss on real outputs and G's loss on generated ones, is +inf below -88.72 for:
_ACTIVATION_OVERFLOWS = {"fgan_reverse_kl", "fgan_neyman", "fgan_squared_hellinger"}
_EXP_LIMIT = 88.72  # exp(x) overflows float32 beyond log(3.4028235e38) = 88.7228
# f*(g_f(v)), D's loss on generated outputs: name -> (threshold, side, value it overflows to),
# overflowing where side * (v - threshold) > 0.
_CONJUGATE_OVERFLOWS = {
    "fgan_kl": (_EXP_LIMIT + 1.0, 1, np.inf),
    "fgan_jeffrey": (_EXP_LIMIT + 1.0, 1, np.inf),
    "fgan_squared_hellinger": (_EXP_LIMIT, 1, np.inf),
    "fgan_neyman": (-2.0 * _EXP_LIMIT, -1, -np.inf),
}


def _documented_overflow(name, real_value, fake_value):
    """(D's loss on real, D's loss on generated, G's loss): 0.0 where finite, else its inf."""
    real_part = fake_part = g_part = 0.0
    if name in _ACTIVATION_OVERFLOWS:
        real_part = np.inf if real_value < -_EXP_LIMIT else 0.0
        g_part = np.inf if fake_value < -_EXP_LIMIT else 0.0
    if name in _CONJUGATE_OVERFLOWS:
        threshold, side, overflowed = _CONJUGATE_OVERFLOWS[name]
        fake_part = overflowed if side * (fake_value - threshold) > 0 else 0.0
    return real_part, fake_part, g_part


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("magnitude", [88.0, 90.0, 100.0, 178.0, 1e4])
def test_every_registered_loss_is_finite_or_overflows_as_documented(name, magnitude):
    # Every entry but five f-GANs is finite with finite gradients at +-100 and +-1e4; those
    # five are finite up to |v| = 88 and overflow exactly where documented, never to NaN
    # except neyman's d_loss, where the two halves overflow to +inf and -inf.
    objective = get_objective(name)
    for real_sign, fake_sign in [(1, -1), (-1, 1), (1, 1), (-1, -1)]:
        real, fake = _full(real_sign * magnitude), _full(fake_sign * magnitude)
        d_value, (d_real, d_fake) = jax.value_and_grad(objective.d_loss, argnums=(0, 1))(real,
                                                                                          fake)
        g_value, (g_real, g_fake) = jax.value_and_grad(objective.g_loss, argnums=(0, 1))(real,
                                                                                          fake)
        real_part, fake_part, g_part = _documented_overflow(name, float(real[0]), float(fake[0]))
        case = (name, real_sign * magnitude, fake_sign * magnitude)
        assert d_value.shape == () and g_value.shape == ()
        np.testing.assert_equal(float(d_value) if real_part or fake_part else 0.0,
                                real_part + fake_part, err_msg=str(case))
        assert bool(jnp.isfinite(d_value)) == (real_part == fake_part == 0.0), case
        np.testing.assert_equal(float(g_value) if g_part else 0.0, g_part, err_msg=str(case))
        assert bool(jnp.isfinite(g_value)) == (g_part == 0.0), case
        for grad, overflowed in ((d_real, real_part), (d_fake, fake_part), (g_real, 0.0),
                                 (g_fake, g_part)):
            assert not bool(jnp.any(jnp.isnan(grad))), case
            assert bool(jnp.all(jnp.isfinite(grad))) == (overflowed == 0.0), case


def _softplus64(x: float) -> float:
    return float(np.logaddexp(0.0, x))


# (function, real logit as a multiple of m, fake logit as a multiple of m, exact value at m)
_ASYMPTOTICS = [
    # D right on both halves: loss 2 exp(-m), below float32's range, so ~0.
    (classifier_d_loss, 1, -1, lambda m: 2 * _softplus64(-m)),
    # D wrong on both halves: each softplus(m) = m + log1p(exp(-m)) ~ m.
    (classifier_d_loss, -1, 1, lambda m: 2 * _softplus64(m)),
    (value_function, 1, -1, lambda m: -2 * _softplus64(-m)),
    (value_function, -1, 1, lambda m: -2 * _softplus64(m)),
    (minimax_g_loss, 0, 1, lambda m: -_softplus64(m)),          # ~ -m
    (minimax_g_loss, 0, -1, lambda m: -_softplus64(-m)),        # ~ 0
    (nonsaturating_g_loss, 0, -1, lambda m: _softplus64(m)),    # ~ m
    (nonsaturating_g_loss, 0, 1, lambda m: _softplus64(-m)),    # ~ 0
    (regression_d_loss, 1, -1, lambda m: (m - 1) ** 2 + m ** 2),
    (regression_d_loss, -1, 1, lambda m: (m + 1) ** 2 + m ** 2),
    (regression_g_loss, 0, -1, lambda m: (m + 1) ** 2),
]


@pytest.mark.parametrize("magnitude", [100.0, 1e4])
@pytest.mark.parametrize("fn,real_mult,fake_mult,exact", _ASYMPTOTICS,
                         ids=lambda v: getattr(v, "__name__", None))
def test_values_at_extreme_logits_match_their_asymptotics(fn, real_mult, fake_mult, exact,
                                                          magnitude):
    got = float(fn(_full(real_mult * magnitude), _full(fake_mult * magnitude)))
    want = exact(magnitude)
    if abs(want) < 1e-30:
        assert abs(got) < 1e-30, (fn.__name__, got, want)
    else:
        assert abs(got - want) <= 1e-6 * abs(want), (fn.__name__, got, want)


def test_named_asymptotics():
    assert abs(float(classifier_d_loss(_full(100.0), _full(-100.0)))) < 1e-30
    assert abs(float(nonsaturating_g_loss(None, _full(-100.0))) - 100.0) < 1e-5
    assert abs(float(minimax_g_loss(None, _full(1e4))) + 1e4) < 1e-2


# --- Goodfellow et al. 2014, Theorem 1: max_D V(D, G) = -log 4 + 2 JSD(p_data || p_G) -----


def _gaussian(mean, std):
    return lambda x: stats.norm.logpdf(x, mean, std)


def _mixture(means, stds, weights):
    def logpdf(x):
        comps = [np.log(w) + stats.norm.logpdf(x, m, s) for m, s, w in zip(means, stds, weights,
                                                                            strict=True)]
        return logsumexp(np.stack(comps), axis=0)
    return logpdf


# (log p_data, log p_G, break points for quad, closed-form entropies (h_data, h_G) or None)
_PAIRS = {
    "gaussians": (_gaussian(0.0, 1.0), _gaussian(1.0, 1.5), [0.0, 1.0],
                  (stats.norm(0.0, 1.0).entropy(), stats.norm(1.0, 1.5).entropy())),
    "mixture_vs_gaussian": (_mixture([-2.0, 2.0], [0.5, 0.5], [0.5, 0.5]), _gaussian(0.0, 1.0),
                            [-2.0, 0.0, 2.0], None),
    "nearly_disjoint": (_gaussian(-4.0, 0.5), _gaussian(4.0, 0.5), [-4.0, 0.0, 4.0],
                        (stats.norm(0.0, 0.5).entropy(),) * 2),
}
_LO, _HI = -30.0, 30.0  # both densities are below exp(-150) outside


def _quad(f, points):
    value, abserr = integrate.quad(f, _LO, _HI, points=points, limit=500,
                                   epsabs=1e-12, epsrel=1e-12)
    assert abserr < 1e-7
    return value


@pytest.mark.parametrize("pair", sorted(_PAIRS))
def test_theorem1_value_at_optimal_d_is_minus_log4_plus_2jsd(pair):
    logp, logq, points, entropies = _PAIRS[pair]

    # V(D*, G) = ∫ p log D* + ∫ q log(1 - D*) with D* = p / (p + q)  (Proposition 1).
    def v_integrand(x):
        lse = np.logaddexp(logp(x), logq(x))
        return np.exp(logp(x)) * (logp(x) - lse) + np.exp(logq(x)) * (logq(x) - lse)

    v_star = _quad(v_integrand, points)

    # JSD by its definition, 0.5 KL(p || m) + 0.5 KL(q || m) with m = (p + q) / 2.
    def logm(x):
        return np.logaddexp(logp(x), logq(x)) - math.log(2.0)

    kl_pm = _quad(lambda x: np.exp(logp(x)) * (logp(x) - logm(x)), points)
    kl_qm = _quad(lambda x: np.exp(logq(x)) * (logq(x) - logm(x)), points)
    jsd = 0.5 * kl_pm + 0.5 * kl_qm
    assert 0.0 <= jsd <= math.log(2.0) + 1e-12
    assert abs(v_star - (-math.log(4.0) + 2.0 * jsd)) < 1e-4

    if entropies is not None:
        # A second route to JSD: h(m) - (h(p) + h(q)) / 2, with closed-form Gaussian entropies.
        h_m = _quad(lambda x: -np.exp(logm(x)) * logm(x), points)
        assert abs((h_m - 0.5 * sum(entropies)) - jsd) < 1e-4


def _grid(pair):
    """Trapezoid nodes on [_LO, _HI] and log-densities there: x [N], w [N], logp [N], logq [N]."""
    logp, logq, _, _ = _PAIRS[pair]
    x = np.linspace(_LO, _HI, 12_001)
    w = np.full_like(x, x[1] - x[0])
    w[[0, -1]] *= 0.5
    return x, w, logp(x), logq(x)


def _pointwise(loss, real_logits, fake_logits):
    """loss evaluated on one-sample batches, one per grid point: [N], [N] -> [N]."""
    return jax.vmap(lambda r, f: loss(r[None], f[None]))(jnp.asarray(real_logits, jnp.float32),
                                                          jnp.asarray(fake_logits, jnp.float32))


def _expected_classifier_d_loss(pair, logit_shift=0.0):
    """E_{p_data} and E_{p_G} parts of classifier_d_loss at D = sigmoid(log p - log q + shift).

    The loss is a sum of a real-only and a fake-only mean, so each half is read off a one-point
    call whose other logit is +-inf (softplus(-inf) = 0 exactly), then weighted by p dx / q dx.
    """
    _, w, lp, lq = _grid(pair)
    logits = lp - lq + logit_shift  # the logit of D* = p / (p + q), computed without a ratio
    inf = np.full_like(logits, np.inf)
    real_part = np.asarray(_pointwise(classifier_d_loss, logits, -inf), np.float64)
    fake_part = np.asarray(_pointwise(classifier_d_loss, inf, logits), np.float64)
    return np.sum(w * np.exp(lp) * real_part) + np.sum(w * np.exp(lq) * fake_part)


@pytest.mark.parametrize("pair", sorted(_PAIRS))
def test_theorem1_through_the_package_loss(pair):
    logp, logq, points, _ = _PAIRS[pair]

    def logm(x):
        return np.logaddexp(logp(x), logq(x)) - math.log(2.0)

    jsd = 0.5 * _quad(lambda x: np.exp(logp(x)) * (logp(x) - logm(x)), points) \
        + 0.5 * _quad(lambda x: np.exp(logq(x)) * (logq(x) - logm(x)), points)
    d_loss_at_optimum = _expected_classifier_d_loss(pair)
    assert abs(-d_loss_at_optimum - (-math.log(4.0) + 2.0 * jsd)) < 1e-4
    # D* is the maximiser of V: moving its logit by 0.3 either way raises the loss by 1-2 %
    # in every case (relative, because the nearly disjoint pair's loss is only ~4e-15).
    for shift in (-0.3, 0.3):
        assert _expected_classifier_d_loss(pair, shift) > d_loss_at_optimum * (1.0 + 1e-3)


@pytest.mark.parametrize("pair", sorted(_PAIRS))
def test_regression_d_loss_is_minimised_by_the_same_posterior(pair):
    # Mao et al. 2017, Proposition 1 with a = 0, b = 1: D*(x) = p / (p + q).
    _, w, lp, lq = _grid(pair)

    def expected(scores):
        real_part = np.asarray(_pointwise(regression_d_loss, scores, np.zeros_like(scores)))
        fake_part = np.asarray(_pointwise(regression_d_loss, np.ones_like(scores), scores))
        return (np.sum(w * np.exp(lp) * real_part.astype(np.float64))
                + np.sum(w * np.exp(lq) * fake_part.astype(np.float64)))

    d_star = np.exp(lp - np.logaddexp(lp, lq))
    at_optimum = expected(d_star)
    for delta in (-0.05, 0.05):
        assert expected(d_star + delta) > at_optimum + 1e-4


# --- least squares (Mao et al. 2017) -------------------------------------------------------

# Two discrete distributions on 5 points with rational masses (counts out of 20), so that a
# batch holding point i p_i * 20 times makes a batch mean an exact expectation under p.
_P_COUNTS = np.array([1, 2, 3, 4, 10])
_Q_COUNTS = np.array([5, 4, 6, 3, 2])
_P, _Q = _P_COUNTS / 20.0, _Q_COUNTS / 20.0
_P_INDEX, _Q_INDEX = np.repeat(np.arange(5), _P_COUNTS), np.repeat(np.arange(5), _Q_COUNTS)


def _expectation_batches(values):
    """Per-point D outputs [5] -> (real batch [20] distributed as P, fake batch [20] as Q)."""
    return values[_P_INDEX], values[_Q_INDEX]


@pytest.mark.parametrize("name,coding", [("lsgan", (-1.0, 1.0, 0.0)),
                                         ("lsgan_011", (0.0, 1.0, 1.0)),
                                         ("custom", (0.5, 3.0, -2.0))])
def test_least_squares_optimal_d_minimises_the_expected_d_loss(name, coding):
    a, b, c = coding
    objective = losses.least_squares(a, b, c) if name == "custom" else get_objective(name)
    d_star = (b * _P + a * _Q) / (_P + _Q)  # Mao et al. 2017, the optimal D for fixed G

    @jax.jit
    def expected_d_loss(values):
        return objective.d_loss(*_expectation_batches(values))

    at_optimum = float(expected_d_loss(d_star))
    np.testing.assert_allclose(jax.grad(expected_d_loss)(jnp.asarray(d_star, jnp.float32)), 0.0,
                               atol=1e-6)
    # The expected loss is quadratic per point: moving D by delta_i costs (p_i + q_i) delta_i^2 / 2.
    rng = np.random.default_rng(0)
    for delta in [*(s * np.eye(5)[i] for i in range(5) for s in (-0.3, 0.3)),
                  *rng.normal(0.0, 0.5, (4, 5))]:
        increase = float(expected_d_loss(d_star + delta)) - at_optimum
        assert abs(increase - 0.5 * np.sum((_P + _Q) * delta**2)) < 1e-6, delta
        assert increase > 0.0
    # On a grid of constant shifts, none does better than D*.
    grid = [float(expected_d_loss(d_star + s)) for s in np.linspace(-1.0, 1.0, 41)]
    assert min(grid) >= at_optimum - 1e-6


def test_lsgan_g_objective_at_optimal_d_is_mao_et_al_theorem_1():
    # b - c = 1 and b - a = 2: 2 C(G) = ∫ (2 p_G - (p_data + p_G))^2 / (p_data + p_G), which
    # Mao et al. write chi^2_Pearson(p_data + p_G || 2 p_G). C(G) adds to G's loss its
    # G-independent twin on real data, the same function of D's outputs.
    objective = get_objective("lsgan")
    d_star = (1.0 * _P - 1.0 * _Q) / (_P + _Q)
    real, fake = _expectation_batches(jnp.asarray(d_star, jnp.float32))
    c_of_g = float(objective.g_loss(None, real)) + float(objective.g_loss(None, fake))
    mixture = _P + _Q
    assert abs(2.0 * c_of_g - np.sum((2.0 * _Q - mixture) ** 2 / mixture)) < 1e-6
    assert abs(2.0 * c_of_g - np.sum((_P - _Q) ** 2 / (_P + _Q))) < 1e-6


def test_lsgan_011_is_the_regression_loss_halved():
    real, fake = jnp.linspace(-2.0, 3.0, B), jnp.linspace(1.5, -1.0, B)
    objective = get_objective("lsgan_011")
    np.testing.assert_allclose(objective.d_loss(real, fake), 0.5 * regression_d_loss(real, fake),
                               rtol=1e-6)
    np.testing.assert_allclose(objective.g_loss(None, fake),
                               0.5 * regression_g_loss(None, fake), rtol=1e-6)


# --- critics and relativistic losses: hand-computed values ---------------------------------

_REAL = [2.0, -0.5, 0.25]
_FAKE = [-1.5, 0.5, 3.0]


def _sp(x):
    return math.log1p(math.exp(x))


_MEAN_R, _MEAN_F = 7.0 / 12.0, 2.0 / 3.0
# name -> (d_loss, g_loss) on (_REAL, _FAKE), worked out by hand from the papers' formulas.
_HAND = {
    "wasserstein": (_MEAN_F - _MEAN_R, -_MEAN_F),
    "hinge": ((0.0 + 1.5 + 0.75) / 3.0 + (0.0 + 1.5 + 4.0) / 3.0, -_MEAN_F),
    "lsgan": (0.5 * (1.0 + 2.25 + 0.5625) / 3.0 + 0.5 * (0.25 + 2.25 + 16.0) / 3.0,
              0.5 * (2.25 + 0.25 + 9.0) / 3.0),
    "relativistic": ((_sp(-3.5) + _sp(1.0) + _sp(2.75)) / 3.0,
                     (_sp(3.5) + _sp(-1.0) + _sp(-2.75)) / 3.0),
    "relativistic_average": (
        sum(_sp(_MEAN_F - r) for r in _REAL) / 3.0 + sum(_sp(f - _MEAN_R) for f in _FAKE) / 3.0,
        sum(_sp(_MEAN_R - f) for f in _FAKE) / 3.0 + sum(_sp(r - _MEAN_F) for r in _REAL) / 3.0),
}


@pytest.mark.parametrize("name", sorted(_HAND))
def test_losses_on_hand_computed_inputs(name):
    objective = get_objective(name)
    real, fake = jnp.asarray(_REAL), jnp.asarray(_FAKE)
    want_d, want_g = _HAND[name]
    assert abs(float(objective.d_loss(real, fake)) - want_d) < 1e-6
    assert abs(float(objective.g_loss(real if objective.g_needs_real else None, fake))
               - want_g) < 1e-6


def test_relativistic_d_and_g_losses_differ_by_the_mean_logit_gap():
    # softplus(x) - softplus(-x) = x, so RSGAN's d_loss - g_loss = mean(fake) - mean(real).
    real, fake = jnp.linspace(-3.0, 4.0, B), jnp.linspace(2.0, -5.0, B)
    gap = losses.relativistic_d_loss(real, fake) - losses.relativistic_g_loss(real, fake)
    np.testing.assert_allclose(gap, jnp.mean(fake) - jnp.mean(real), atol=1e-6)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_a_generator_step_raises_d_on_generated_samples(name):
    # Fakes that D scores below every target (< -0.5) and reals above them: for every entry,
    # f-GANs included (g_f increases), the G loss falls as each fake output rises.
    objective = get_objective(name)
    real, fake = jnp.linspace(0.5, 3.0, B), jnp.linspace(-3.0, -0.5, B)
    grad = jax.grad(objective.g_loss, argnums=1)(real if objective.g_needs_real else None, fake)
    assert bool(jnp.all(grad < 0.0)), (name, grad)


def test_fgan_gan_is_the_classifier_with_the_nonsaturating_generator():
    real, fake = jnp.linspace(-7.0, 3.0, B), jnp.linspace(4.0, -6.0, B)
    objective = get_objective("fgan_gan")
    np.testing.assert_allclose(objective.d_loss(real, fake), classifier_d_loss(real, fake),
                               rtol=1e-6)
    np.testing.assert_allclose(objective.g_loss(None, fake), nonsaturating_g_loss(None, fake),
                               rtol=1e-6)


# --- special functions --------------------------------------------------------------------


def test_lambert_w0_matches_scipy_over_a_wide_range():
    inv_e = math.exp(-1.0)
    near_branch = np.float32(-inv_e) + np.arange(1, 200) * np.spacing(np.float32(inv_e))
    z = np.concatenate([-np.logspace(math.log10(inv_e), -37, 1500), [0.0],
                        np.logspace(-37, 38, 1500), near_branch]).astype(np.float32)
    lambert_w0 = jax.jit(losses.lambert_w0)
    got = np.asarray(lambert_w0(jnp.asarray(z)), np.float64)
    want = special.lambertw(z.astype(np.float64)).real
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)
    with jax.enable_x64(True):
        z64 = np.concatenate([-inv_e + np.logspace(-15, -0.5, 300), np.logspace(-300, 300, 600)])
        np.testing.assert_allclose(lambert_w0(jnp.asarray(z64)),
                                   special.lambertw(z64).real, rtol=1e-6, atol=0)
    special_points = np.asarray(lambert_w0(jnp.asarray([-inv_e, -0.37, 1.0, math.e, np.inf],
                                                       jnp.float32)))
    np.testing.assert_allclose(special_points[[0, 2, 3, 4]],
                               [-1.0, 0.5671433, 1.0, np.inf], rtol=1e-6)
    assert np.isnan(special_points[1])  # below the branch point
    # dW/dz = 1 / (e^W + z), against a central difference in float64.
    with jax.enable_x64(True):
        zs = jnp.asarray([-0.3, -0.1, 0.0, 0.5, 3.0, 1e3])
        grads = jax.jit(jax.vmap(jax.grad(losses.lambert_w0)))(zs)
        h = 1e-6
        numeric = (lambert_w0(zs + h) - lambert_w0(zs - h)) / (2 * h)
        np.testing.assert_allclose(grads, numeric, rtol=1e-6)


def test_wright_omega_is_lambert_w_of_exp_without_forming_it():
    x = np.concatenate([np.linspace(-87.0, 200.0, 2001), np.logspace(0, 38, 100)])
    x = x.astype(np.float32)
    wright_omega = jax.jit(losses.wright_omega)
    np.testing.assert_allclose(np.asarray(wright_omega(jnp.asarray(x)), np.float64),
                               special.wrightomega(x.astype(np.float64)), rtol=1e-6, atol=0)
    with jax.enable_x64(True):
        x64 = np.linspace(-700.0, 700.0, 1401)
        np.testing.assert_allclose(wright_omega(jnp.asarray(x64)),
                                   special.wrightomega(x64), rtol=1e-6, atol=0)
        np.testing.assert_allclose(jax.jit(jax.vmap(jax.grad(losses.wright_omega)))(x64),
                                   special.wrightomega(x64) / (1 + special.wrightomega(x64)),
                                   rtol=1e-6)


def _log1mexp_reference(t):
    """log(1 - e^t) in float64 without the formula under test: log(-expm1(t)) for t > -1, the
    series -sum_k e^(kt)/k (e^t <= 1/e, 80 terms) below, where 1 - e^t would round."""
    t = np.asarray(t, np.float64)
    series = -sum(np.exp(k * np.minimum(t, -1.0)) / k for k in range(1, 80))
    return np.where(t > -1.0, np.log(-np.expm1(np.maximum(t, -1.0))), series)


def test_log1mexp_is_accurate_on_both_sides_of_log_half():
    with jax.enable_x64(True):
        t = -np.concatenate([np.logspace(-15, 0, 100), np.logspace(0, 3, 100)])
        np.testing.assert_allclose(losses.log1mexp(jnp.asarray(t)), _log1mexp_reference(t),
                                   rtol=1e-12)
    t32 = jnp.asarray([-1e-6, -0.5, -1.0, -30.0, -80.0], jnp.float32)
    np.testing.assert_allclose(losses.log1mexp(t32), _log1mexp_reference(t32), rtol=1e-6)
    assert float(losses.log1mexp(jnp.float32(-1e4))) == 0.0


# --- f-GAN (Nowozin et al. 2016) ----------------------------------------------------------


def _kl(p, q):
    return np.sum(p * np.log(p / q))


# The test's own formulas, float64: f(u), T*(p, q) = f'(p/q) from Nowozin et al.'s Table 1,
# the inverse output activation v = g_f^{-1}(t), and D_f(P || Q) by its textbook name.
_F_REFERENCE = {
    "kl": (lambda u: u * np.log(u), lambda p, q: 1.0 + np.log(p / q), lambda t: t,
           lambda p, q: _kl(p, q)),
    "reverse_kl": (lambda u: -np.log(u), lambda p, q: -q / p, lambda t: -np.log(-t),
                   lambda p, q: _kl(q, p)),
    "pearson": (lambda u: (u - 1.0) ** 2, lambda p, q: 2.0 * (p / q - 1.0), lambda t: t,
                lambda p, q: np.sum((p - q) ** 2 / q)),
    "neyman": (lambda u: (1.0 - u) ** 2 / u, lambda p, q: 1.0 - (q / p) ** 2,
               lambda t: -np.log1p(-t), lambda p, q: np.sum((p - q) ** 2 / p)),
    "squared_hellinger": (lambda u: (np.sqrt(u) - 1.0) ** 2, lambda p, q: 1.0 - np.sqrt(q / p),
                          lambda t: -np.log1p(-t),
                          lambda p, q: np.sum((np.sqrt(p) - np.sqrt(q)) ** 2)),
    "jeffrey": (lambda u: (u - 1.0) * np.log(u), lambda p, q: 1.0 + np.log(p / q) - q / p,
                lambda t: t, lambda p, q: _kl(p, q) + _kl(q, p)),
    "js": (lambda u: -(u + 1.0) * np.log((1.0 + u) / 2.0) + u * np.log(u),
           lambda p, q: np.log(2.0 * p / (p + q)), lambda t: -np.log(2.0 * np.exp(-t) - 1.0),
           lambda p, q: _kl(p, (p + q) / 2.0) + _kl(q, (p + q) / 2.0)),
    "gan": (lambda u: u * np.log(u) - (u + 1.0) * np.log(u + 1.0),
            lambda p, q: np.log(p / (p + q)), lambda t: -np.log(np.expm1(-t)),
            lambda p, q: _kl(p, (p + q) / 2.0) + _kl(q, (p + q) / 2.0) - math.log(4.0)),
}
_FGAN = sorted(_F_REFERENCE)


def test_every_f_divergence_is_registered():
    assert set(losses.F_DIVERGENCES) == set(_F_REFERENCE)
    for name, divergence in losses.F_DIVERGENCES.items():
        assert divergence.name == name and f"fgan_{name}" in LOSSES


@pytest.mark.parametrize("name", _FGAN)
def test_f_and_its_conjugate_are_a_fenchel_pair(name):
    div = losses.F_DIVERGENCES[name]
    f_ref = _F_REFERENCE[name][0]
    with jax.enable_x64(True):
        u = np.logspace(-3.0, 3.0, 61)
        np.testing.assert_allclose(div.f(jnp.asarray(u)), f_ref(u), rtol=1e-12, atol=1e-12)
        # f(1) = 0, except for the GAN's f, whose divergence is 2 JSD - log 4.
        f_at_1 = -math.log(4.0) if name == "gan" else 0.0
        assert abs(float(div.f(jnp.asarray(1.0))) - f_at_1) < 1e-15
        h = 1e-6 * u
        numeric = (f_ref(u + h) - f_ref(u - h)) / (2 * h)
        np.testing.assert_allclose(div.f_prime(jnp.asarray(u)), numeric, rtol=1e-6, atol=1e-8)
        # Fenchel-Young holds with equality at t = f'(u): f*(f'(u)) = u f'(u) - f(u).
        t = div.f_prime(jnp.asarray(u))
        np.testing.assert_allclose(div.conjugate(t), u * t - f_ref(u), rtol=1e-9, atol=1e-12)
        # ... and f*(t) >= t u' - f(u') for every other u' (f* is a supremum).
        others = np.logspace(-3.0, 3.0, 37)
        gap = div.conjugate(t)[:, None] - (np.asarray(t)[:, None] * others - f_ref(others))
        assert float(jnp.min(gap)) > -1e-9


@pytest.mark.parametrize("name", _FGAN)
def test_conjugate_of_activation_is_the_composition_in_a_stable_form(name):
    div = losses.F_DIVERGENCES[name]
    both = jax.jit(lambda v: (div.conjugate_of_activation(v), div.conjugate(div.activation(v))))
    with jax.enable_x64(True):
        closed_form, composition = both(np.linspace(-20.0, 20.0, 161))
        np.testing.assert_allclose(closed_form, composition, rtol=1e-6, atol=1e-9)
    # g_f maps every float32 output into dom f*: the composition is never NaN.
    closed_form, composition = both(jnp.linspace(-80.0, 80.0, 321))
    assert not bool(jnp.any(jnp.isnan(composition)))
    assert bool(jnp.all(jnp.isfinite(closed_form)))


@pytest.mark.parametrize("name", _FGAN)
def test_variational_bound_at_t_star_is_the_divergence_discrete(name):
    div = losses.F_DIVERGENCES[name]
    f_ref, t_star_ref, _, divergence = _F_REFERENCE[name]
    exact = divergence(_P, _Q)
    assert abs(np.sum(_Q * f_ref(_P / _Q)) - exact) < 1e-12  # D_f = E_Q[f(p/q)]
    with jax.enable_x64(True):
        t_star = np.asarray(div.f_prime(jnp.asarray(_P / _Q)))
        np.testing.assert_allclose(t_star, t_star_ref(_P, _Q), rtol=1e-12, atol=1e-12)
        bound = np.sum(_P * t_star) - np.sum(_Q * np.asarray(div.conjugate(jnp.asarray(t_star))))
    assert abs(bound - exact) < 1e-6, (bound, exact)


@pytest.mark.parametrize("name", _FGAN)
def test_d_loss_at_the_optimal_output_is_minus_the_divergence(name):
    # The whole path through the registry: raw outputs v* = g_f^{-1}(T*), batches distributed
    # as P and Q, the float32 loss.
    _, t_star, inverse_activation, divergence = _F_REFERENCE[name]
    v_star = inverse_activation(t_star(_P, _Q))
    d_loss = get_objective(f"fgan_{name}").d_loss
    value = float(d_loss(*_expectation_batches(jnp.asarray(v_star, jnp.float32))))
    assert abs(value + divergence(_P, _Q)) < 1e-5, (value, divergence(_P, _Q))


@pytest.mark.parametrize("name", _FGAN)
def test_any_other_output_gives_a_smaller_bound(name):
    _, t_star, inverse_activation, _ = _F_REFERENCE[name]
    d_loss = jax.jit(get_objective(f"fgan_{name}").d_loss)
    with jax.enable_x64(True):
        v_star = jnp.asarray(inverse_activation(t_star(_P, _Q)))
        at_optimum = float(d_loss(*_expectation_batches(v_star)))
        rng = np.random.default_rng(1)
        for delta in [*(s * np.eye(5)[i] for i in range(5) for s in (-0.1, 0.1)),
                      *rng.normal(0.0, 0.3, (5, 5))]:
            # -d_loss is the bound: every move away from v* raises the loss.
            assert float(d_loss(*_expectation_batches(v_star + delta))) > at_optimum + 1e-6


# P = N(0.5, 1), Q = N(0, 1.2^2): wide enough for both chi^2 to be finite.
_MU_P, _SD_P, _MU_Q, _SD_Q = 0.5, 1.0, 0.0, 1.2


def _gaussian_kl(mu1, sd1, mu2, sd2):
    return math.log(sd2 / sd1) + (sd1**2 + (mu1 - mu2) ** 2) / (2.0 * sd2**2) - 0.5


def _gaussian_chi2(mu1, sd1, mu2, sd2):
    """∫ p^2 / q - 1 for p = N(mu1, sd1^2), q = N(mu2, sd2^2), completing the square."""
    a = 1.0 / sd1**2 - 0.5 / sd2**2
    b = mu1 / sd1**2 - 0.5 * mu2 / sd2**2
    c = mu1**2 / sd1**2 - 0.5 * mu2**2 / sd2**2
    return sd2 / (sd1**2 * math.sqrt(2.0 * a)) * math.exp(b * b / a - c) - 1.0


def _gaussian_bhattacharyya(mu1, sd1, mu2, sd2):
    return math.sqrt(2.0 * sd1 * sd2 / (sd1**2 + sd2**2)) * math.exp(
        -((mu1 - mu2) ** 2) / (4.0 * (sd1**2 + sd2**2)))


_P_ARGS, _Q_ARGS = (_MU_P, _SD_P), (_MU_Q, _SD_Q)
_GAUSSIAN_CLOSED_FORM = {
    "kl": _gaussian_kl(*_P_ARGS, *_Q_ARGS),
    "reverse_kl": _gaussian_kl(*_Q_ARGS, *_P_ARGS),
    "jeffrey": _gaussian_kl(*_P_ARGS, *_Q_ARGS) + _gaussian_kl(*_Q_ARGS, *_P_ARGS),
    "pearson": _gaussian_chi2(*_P_ARGS, *_Q_ARGS),
    "neyman": _gaussian_chi2(*_Q_ARGS, *_P_ARGS),
    "squared_hellinger": 2.0 - 2.0 * _gaussian_bhattacharyya(*_P_ARGS, *_Q_ARGS),
}


@pytest.mark.parametrize("name", _FGAN)
def test_variational_bound_at_t_star_is_the_divergence_gaussians(name):
    div = losses.F_DIVERGENCES[name]
    f_ref = _F_REFERENCE[name][0]
    logp = lambda x: stats.norm.logpdf(x, _MU_P, _SD_P)
    logq = lambda x: stats.norm.logpdf(x, _MU_Q, _SD_Q)
    reference = _quad(lambda x: math.exp(logq(x)) * f_ref(math.exp(logp(x) - logq(x))),
                      [0.0, 0.5])
    if name in _GAUSSIAN_CLOSED_FORM:
        assert abs(reference - _GAUSSIAN_CLOSED_FORM[name]) < 1e-7
    x = np.linspace(_LO, _HI, 12_001)  # trapezoid rule; the integrand is below 1e-60 at the ends
    lp, lq = logp(x), logq(x)

    @jax.jit
    def integrand(lp, lq):
        t_star = div.f_prime(jnp.exp(lp - lq))
        return jnp.exp(lp) * t_star - jnp.exp(lq) * div.conjugate(t_star)

    with jax.enable_x64(True):
        integrand = np.asarray(integrand(lp, lq))
    bound = float(np.sum(integrand) * (x[1] - x[0]))
    assert abs(bound - reference) < 1e-5, (bound, reference)


# --- the registry ------------------------------------------------------------------------


def test_registry_entries_are_objectives_returning_scalars():
    assert set(LOSSES) == {
        "minimax", "nonsaturating", "regression", "lsgan", "lsgan_011", "wasserstein", "hinge",
        "relativistic", "relativistic_average", *(f"fgan_{name}" for name in _F_REFERENCE)}
    assert {name for name, o in LOSSES.items() if o.g_needs_real} == {
        "relativistic", "relativistic_average"}
    real, fake = jnp.linspace(-2.0, 2.0, B), jnp.linspace(1.0, -1.0, B)
    for name, objective in LOSSES.items():
        assert isinstance(objective, Objective), name
        assert get_objective(name) is objective
        hash(objective)  # used as a static (non-pytree) field of the jitted GAN description
        assert objective.d_loss(real, fake).shape == ()
        real_for_g = real if objective.g_needs_real else None
        assert objective.g_loss(real_for_g, fake).shape == ()
        np.testing.assert_allclose(jax.jit(objective.d_loss)(real, fake),
                                   objective.d_loss(real, fake), rtol=1e-6)


def test_unknown_loss_raises_one_line_naming_the_field_and_the_choices():
    with pytest.raises(ValueError) as excinfo:
        get_objective("foo")
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith("unknown loss 'foo' (config.loss); allowed: ")
    assert message.endswith(", ".join(sorted(LOSSES)))


# --- equilibrium: D cannot tell the two distributions apart --------------------------------


@pytest.mark.parametrize("name, value", [
    # Cross-entropy, summed form: -log(1/2) - log(1 - 1/2) at logit 0.
    ("minimax", math.log(4.0)),
    ("nonsaturating", math.log(4.0)),
    # Hinge at score 0: relu(1 - 0) + relu(1 + 0).
    ("hinge", 2.0),
    # Regression to 1 and 0 at output 1/2 (the pointwise optimum when p_data = p_G).
    ("regression", 0.25 + 0.25),
])
def test_d_loss_at_the_indistinguishable_equilibrium(name, value):
    d_loss = get_objective(name).d_loss
    score = 0.5 if name == "regression" else 0.0
    same = jnp.full((B,), score)
    assert abs(float(d_loss(same, same)) - value) < 1e-6


@pytest.mark.parametrize("name, coding", [("lsgan", (-1.0, 1.0)), ("lsgan_011", (0.0, 1.0))])
def test_least_squares_d_loss_at_equilibrium_is_what_its_coding_implies(name, coding):
    # With p_data = p_G the optimum D* = (b + a) / 2 everywhere, and the loss is
    # 1/2 (D* - b)^2 + 1/2 (D* - a)^2 = (b - a)^2 / 4.
    a, b = coding
    d_star = jnp.full((B,), (a + b) / 2.0)
    assert abs(float(get_objective(name).d_loss(d_star, d_star)) - (b - a) ** 2 / 4.0) < 1e-6


def test_gan_and_js_members_differ_by_log4():
    # gan_jax's normalisation: fgan_js's D_f is KL(P||M) + KL(Q||M) = 2 JSD (Nowozin et al.'s
    # f(u) = -(u + 1) log((1 + u) / 2) + u log u), and fgan_gan's is 2 JSD - log 4, the value
    # of Goodfellow et al.'s V at the optimal D. Same P, Q: the two differ by exactly log 4.
    with jax.enable_x64(True):
        values = {}
        for name in ("js", "gan"):
            div = losses.F_DIVERGENCES[name]
            values[name] = float(jnp.sum(jnp.asarray(_Q) * div.f(jnp.asarray(_P / _Q))))
    assert abs(values["js"] - values["gan"] - math.log(4.0)) < 1e-12
    assert abs(values["js"] - (_kl(_P, (_P + _Q) / 2) + _kl(_Q, (_P + _Q) / 2))) < 1e-12
