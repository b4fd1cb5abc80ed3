"""Mode statistics of toy samples (VEEGAN / PacGAN protocol)."""

import jax
import numpy as np

from gan_jax.data import synthetic
from gan_jax.eval import modes


def test_true_samples_capture_every_mode():
    mixture = synthetic.ring()
    x = synthetic.sample_batch(mixture, jax.random.PRNGKey(0), 2500)
    s = modes.mode_stats(x, mixture)
    assert s["modes_captured"] == 8
    assert s["high_quality"] > 0.98  # 3 std in 2-D holds 98.9% of a Gaussian
    assert s["reverse_kl"] < 0.02


def test_one_mode_only():
    mixture = synthetic.grid()
    x = np.tile(np.asarray(mixture.means[7]), (2500, 1))
    s = modes.mode_stats(x, mixture)
    assert s["modes_captured"] == 1 and s["high_quality"] == 1.0
    np.testing.assert_allclose(s["reverse_kl"], np.log(25), rtol=1e-6)


def test_far_samples_are_low_quality_and_capture_nothing():
    mixture = synthetic.ring()
    s = modes.mode_stats(np.full((100, 2), 5.0), mixture)
    assert s == {"modes_captured": 0.0, "high_quality": 0.0, "reverse_kl": np.log(8)}


def test_a_mode_needs_min_count_samples():
    mixture = synthetic.ring()
    x = np.concatenate([np.tile(np.asarray(mixture.means[0]), (100, 1)),
                        np.tile(np.asarray(mixture.means[1]), (19, 1))])
    assert modes.mode_stats(x, mixture)["modes_captured"] == 1
    assert modes.mode_stats(x, mixture, min_count=19)["modes_captured"] == 2


def test_one_dimensional_mixture():
    mixture = synthetic.gaussian_mixture_1d((-2.0, 2.0), (0.1, 0.1))
    x = synthetic.sample_batch(mixture, jax.random.PRNGKey(1), 2500)
    assert modes.mode_stats(x, mixture)["modes_captured"] == 2
