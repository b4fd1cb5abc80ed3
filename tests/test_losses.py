"""Tests for gan_jax.losses: closed forms, gradients, stability, and Theorem 1 of Goodfellow 2014.

Each numerical claim of the module's docstrings is checked here with an explicit tolerance.
The Theorem 1 check is sample-free: expectations are integrals, evaluated both with
scipy.integrate.quad and with the package's own losses on a fine grid.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats
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


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("magnitude", [100.0, 1e4])
@pytest.mark.parametrize("real_sign,fake_sign", [(1, -1), (-1, 1), (1, 1), (-1, -1)])
def test_every_registered_loss_is_finite_with_finite_gradients(name, magnitude, real_sign,
                                                               fake_sign):
    objective = get_objective(name)
    real = _full(real_sign * magnitude)
    fake = _full(fake_sign * magnitude)
    d_value, d_grads = jax.value_and_grad(objective.d_loss, argnums=(0, 1))(real, fake)
    g_value, g_grads = jax.value_and_grad(objective.g_loss, argnums=(0, 1))(real, fake)
    for value in (d_value, g_value):
        assert value.shape == () and bool(jnp.isfinite(value)), (name, value)
    for grad in (*d_grads, *g_grads):
        assert bool(jnp.all(jnp.isfinite(grad))), (name, grad)


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


# --- the registry ------------------------------------------------------------------------


def test_registry_entries_are_objectives_returning_scalars():
    assert {"minimax", "nonsaturating", "regression"} <= set(LOSSES)
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
