"""Toy mixtures: samples, densities, registry."""

import jax
import ml_collections
import numpy as np
import pytest
from scipy import stats

from gan_jax.data import synthetic


def config(**kw):
    return ml_collections.ConfigDict(kw)


@pytest.mark.parametrize("name,k,std", [("ring8", 8, 0.01), ("grid25", 25, 0.05)])
def test_modes_are_equally_likely_and_tight(name, k, std):
    mixture = synthetic.make_mixture(config(name=name, std=std))
    x = np.asarray(jax.jit(lambda key: synthetic.sample_batch(mixture, key, 20_000))(
        jax.random.PRNGKey(0)))
    means = np.asarray(mixture.means)
    dist = np.linalg.norm(x[:, None] - means[None], axis=-1)
    nearest = dist.argmin(1)
    assert dist.min(1).max() < 6 * std  # every sample within 6 std of a mode
    counts = np.bincount(nearest, minlength=k)
    # Chi-square goodness of fit to the uniform distribution over modes.
    assert stats.chisquare(counts).pvalue > 1e-3
    if name == "ring8":
        np.testing.assert_allclose(np.linalg.norm(means, axis=1), 1.0, rtol=1e-6)
    else:
        assert sorted(set(np.round(means.ravel(), 6))) == [-4, -2, 0, 2, 4]
    # Per-mode spread matches the std (1e-2 relative on 20k samples per coordinate).
    resid = x - means[nearest]
    assert abs(resid.std() / std - 1) < 0.03


def test_1d_density_integrates_to_one_and_matches_samples():
    mixture = synthetic.make_mixture(config(name="gauss1d", means=(-1.0, 2.0), stds=(0.3, 0.5),
                                            weights=(0.25, 0.75)))
    grid = np.linspace(-6, 8, 20_001)
    p = np.exp(np.asarray(synthetic.log_density(mixture, grid[:, None])))
    assert abs(np.trapezoid(p, grid) - 1) < 1e-3
    x = np.asarray(synthetic.sample_batch(mixture, jax.random.PRNGKey(1), 40_000))[:, 0]
    assert abs((x < 0.5).mean() - 0.25) < 0.01
    assert abs(x.mean() - (0.25 * -1 + 0.75 * 2)) < 0.02


def test_sampler_is_deterministic_per_key_and_vmaps():
    mixture = synthetic.ring()
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    a = jax.vmap(lambda k: synthetic.sample(mixture, k))(keys)
    again = jax.vmap(lambda k: synthetic.sample(mixture, k))(keys)
    jitted = jax.jit(jax.vmap(lambda k: synthetic.sample(mixture, k)))(keys)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(again))
    # Under jit XLA may fuse the multiply-add: equal to float32 rounding.
    np.testing.assert_allclose(np.asarray(a), np.asarray(jitted), rtol=1e-6, atol=1e-7)
    assert a.shape == (4, 2)


@pytest.mark.parametrize("cfg,message", [
    (dict(name="spiral"), "unknown synthetic dataset 'spiral' (config.data.name); allowed: "
                          "gauss1d, grid25, ring8"),
    (dict(name="gauss1d", means=(0.0, 1.0), stds=(1.0,)), "config.data.means (2), "
                                                           "config.data.stds (1)"),
    (dict(name="gauss1d", means=(0.0,), stds=(-1.0,)), "config.data.stds=(-1.0,) must all be"),
    (dict(name="ring8", std=0.0), "config.data.std=0.0 must be positive"),
])
def test_bad_mixture_configs_are_one_line(cfg, message):
    with pytest.raises(ValueError) as info:
        synthetic.make_mixture(config(**cfg))
    assert message in str(info.value)
