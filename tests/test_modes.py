"""Mode statistics of toy samples (VEEGAN / PacGAN protocol)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.data import synthetic
from gan_jax.eval import modes


@pytest.mark.parametrize("mixture,k", [(synthetic.ring(), 8), (synthetic.grid(), 25)])
def test_true_samples_capture_every_mode(mixture, k):
    x = synthetic.sample_batch(mixture, jax.random.PRNGKey(0), 2500)  # a JAX array
    s = modes.mode_stats(x, mixture)
    assert s["modes_captured"] == k
    assert s["high_quality"] > 0.98  # 3 std in 2-D holds 1 - exp(-4.5) = 98.9%
    # With 2,500 samples the multinomial noise alone gives KL ~ (K - 1) / (2 * 2500).
    assert s["reverse_kl"] < 0.02


def test_all_in_one_mode():
    mixture = synthetic.ring()
    x = np.tile(np.asarray(mixture.means[3]), (2500, 1))
    x += np.random.default_rng(0).normal(0, 0.01, x.shape)
    s = modes.mode_stats(x, mixture)
    assert s["modes_captured"] == 1 and s["high_quality"] > 0.98
    np.testing.assert_allclose(s["reverse_kl"], np.log(8), atol=1e-6)


def test_two_equal_modes_give_log_k_over_two():
    mixture = synthetic.grid()
    x = np.asarray(mixture.means)[[0, 0, 24, 24]]
    s = modes.mode_stats(x, mixture)
    assert s["modes_captured"] == 2 and s["high_quality"] == 1.0
    np.testing.assert_allclose(s["reverse_kl"], np.log(25 / 2), rtol=1e-12)


def test_far_samples_are_low_quality_and_capture_nothing():
    mixture = synthetic.ring()
    s = modes.mode_stats(np.full((100, 2), 5.0), mixture)
    assert s == {"modes_captured": 0.0, "high_quality": 0.0, "reverse_kl": float(np.log(8))}


def test_threshold_is_n_std_of_the_mode():
    mixture = synthetic.ring()  # std 0.01, mode 0 at (1, 0)
    x = np.array([[1.0299, 0.0], [1.0301, 0.0], [1.0, 0.0299], [1.0, -0.0301]])
    assert modes.mode_stats(x, mixture)["high_quality"] == 0.5
    assert modes.mode_stats(x, mixture, n_std=4.0)["high_quality"] == 1.0


def test_min_count():
    mixture = synthetic.ring()
    means = np.asarray(mixture.means)
    x = np.concatenate([np.tile(means[0], (100, 1)), np.tile(means[1], (19, 1)), means[2:3]])
    assert modes.mode_stats(x, mixture)["modes_captured"] == 3  # the published rule: >= 1
    assert modes.mode_stats(x, mixture, min_count=19)["modes_captured"] == 2
    assert modes.mode_stats(x, mixture, min_count=20)["modes_captured"] == 1


def test_nan_samples_are_low_quality():
    mixture = synthetic.ring()
    x = np.concatenate([np.asarray(mixture.means), np.full((8, 2), np.nan)])
    s = modes.mode_stats(jnp.asarray(x), mixture)
    assert s["modes_captured"] == 8 and s["high_quality"] == 0.5
    assert abs(s["reverse_kl"]) < 1e-12


def test_one_dimensional_mixture_with_unequal_stds():
    mixture = synthetic.gaussian_mixture_1d((-2.0, 2.0), (0.1, 1.0))
    x = synthetic.sample_batch(mixture, jax.random.PRNGKey(1), 2500)
    s = modes.mode_stats(x, mixture)
    assert s["modes_captured"] == 2 and s["high_quality"] > 0.99  # 1-D: 99.7% within 3 std
    # x = -1.5 is 5 std from the narrow mode but 3.5 std from the wide one: low
    # quality, though it is nearer the narrow mode in plain distance.
    assert modes.mode_stats(np.array([-1.5]), mixture)["high_quality"] == 0.0
    assert modes.mode_stats(np.array([-1.5]), mixture, n_std=3.6)["modes_captured"] == 1


def test_bad_shapes():
    with pytest.raises(ValueError, match="do not match the mixture's"):
        modes.mode_stats(np.zeros((4, 3)), synthetic.ring())
