"""Toy mixtures: sample moments, densities, jit/vmap behaviour, registry errors."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from scipy import stats

from gan_jax.data import synthetic

N = 20_000


def config(**kw):
    return ml_collections.ConfigDict(kw)


def draw(mixture, seed=0, n=N):
    return np.asarray(jax.jit(lambda key: synthetic.sample_batch(mixture, key, n))(
        jax.random.PRNGKey(seed)))


@pytest.mark.parametrize("name,k,std", [("ring8", 8, 0.01), ("grid25", 25, 0.05)])
def test_registry_defaults(name, k, std):
    mixture = synthetic.make_mixture(config(name=name))
    assert mixture.means.shape == (k, 2) and mixture.means.dtype == np.float32
    np.testing.assert_allclose(np.asarray(mixture.stds), std)
    np.testing.assert_allclose(np.asarray(mixture.weights), 1 / k, rtol=1e-6)


@pytest.mark.parametrize("name,k,std", [("ring8", 8, 0.01), ("grid25", 25, 0.05)])
def test_modes_are_equally_likely_and_tight(name, k, std):
    mixture = synthetic.make_mixture(config(name=name))
    x = draw(mixture)
    means = np.asarray(mixture.means)
    dist = np.linalg.norm(x[:, None] - means[None], axis=-1)
    nearest = dist.argmin(1)
    if name == "ring8":
        np.testing.assert_allclose(np.linalg.norm(means, axis=1), 1.0, rtol=1e-6)
        angles = np.arctan2(means[:, 1], means[:, 0]) % (2 * np.pi)
        np.testing.assert_allclose(np.sort(angles), 2 * np.pi * np.arange(8) / 8, atol=1e-6)
        # The radial offset is one N(0, std^2) coordinate: P(> 5 std) ~ 6e-7 a sample.
        assert np.abs(np.linalg.norm(x, axis=1) - 1.0).max() < 5 * std
    else:
        assert sorted(set(np.round(means.ravel(), 6))) == [-4, -2, 0, 2, 4]
        assert np.abs(x - means[nearest]).max() < 5 * std  # per coordinate, as above
    counts = np.bincount(nearest, minlength=k)
    # Each count is Binomial(N, 1/K): within 4.5 standard deviations (a miss
    # somewhere among K modes has probability below 2e-4), and jointly uniform.
    sd = np.sqrt(N * (1 / k) * (1 - 1 / k))
    assert np.abs(counts - N / k).max() < 4.5 * sd, counts
    assert stats.chisquare(counts).pvalue > 1e-3
    # Per-coordinate spread matches the std (2 * N coordinates: 1.5% is > 4 sigma).
    resid = x - means[nearest]
    assert abs(resid.std() / std - 1) < 0.015
    assert abs(resid.mean()) < 4 * std / np.sqrt(2 * N)


def test_1d_density_integrates_to_one_and_matches_samples():
    mixture = synthetic.make_mixture(config(name="gauss1d", means=(-1.0, 2.0), stds=(0.3, 0.5),
                                            weights=(1.0, 3.0)))  # renormalised to 1/4, 3/4
    np.testing.assert_allclose(np.asarray(mixture.weights), [0.25, 0.75], rtol=1e-6)
    grid = np.linspace(-6, 8, 20_001)
    p = np.exp(np.asarray(synthetic.log_density(mixture, grid[:, None]), np.float64))
    assert abs(np.trapezoid(p, grid) - 1) < 1e-3
    x = draw(mixture, seed=1)[:, 0]
    assert abs((x < 0.5).mean() - 0.25) < 4 * np.sqrt(0.25 * 0.75 / N)
    assert abs(x.mean() - (0.25 * -1 + 0.75 * 2)) < 0.02


def test_2d_density_integrates_to_one_and_matches_scipy():
    mixture = synthetic.ring(std=0.1)
    ticks = np.linspace(-1.8, 1.8, 721)
    xx, yy = np.meshgrid(ticks, ticks)
    points = np.stack([xx.ravel(), yy.ravel()], -1)
    log_p = np.asarray(synthetic.log_density(mixture, points), np.float64)
    mass = np.exp(log_p).reshape(xx.shape)
    assert abs(np.trapezoid(np.trapezoid(mass, ticks, axis=1), ticks) - 1) < 1e-3
    # Against scipy at a few points, including one far in the tail (stability).
    probe = np.array([[1.0, 0.0], [0.3, -0.2], [0.0, 0.0], [30.0, 30.0]])
    reference = [np.log(np.mean([stats.multivariate_normal(m, 0.01).pdf(p)
                                 for m in np.asarray(mixture.means, np.float64)]))
                 for p in probe[:3]]
    got = np.asarray(synthetic.log_density(mixture, probe))
    np.testing.assert_allclose(got[:3], reference, rtol=1e-5)
    assert np.isfinite(got[3]) and got[3] < -5e4


def test_sampler_is_deterministic_per_key_jits_and_vmaps():
    mixture = synthetic.ring()
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    one = synthetic.sample(mixture, keys[0])
    assert one.shape == (2,) and one.dtype == np.float32
    a = jax.vmap(lambda k: synthetic.sample(mixture, k))(keys)
    again = jax.vmap(lambda k: synthetic.sample(mixture, k))(keys)
    jitted = jax.jit(jax.vmap(lambda k: synthetic.sample(mixture, k)))(keys)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(again))
    # Under jit XLA may fuse the multiply-add: equal to float32 rounding.
    np.testing.assert_allclose(np.asarray(a), np.asarray(jitted), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(a[0]), np.asarray(one), rtol=1e-6, atol=1e-7)
    assert a.shape == (4, 2)
    assert not np.allclose(np.asarray(a[0]), np.asarray(a[1]))
    # The mixture is a pytree: it can be a jit argument as well as a constant.
    batch = jax.jit(synthetic.sample_batch, static_argnums=2)(mixture, keys[0], 3)
    assert batch.shape == (3, 2)


def test_zero_weight_component_is_never_drawn():
    mixture = synthetic.gaussian_mixture_1d((-5.0, 5.0), (0.1, 0.1), (0.0, 1.0))
    assert (draw(mixture, n=2000) > 0).all()


@pytest.mark.parametrize("cfg,message", [
    (dict(name="spiral"), "unknown synthetic dataset 'spiral' (config.data.name); allowed: "
                          "gauss1d, grid25, ring8"),
    (dict(name="gauss1d", means=(0.0, 1.0), stds=(1.0,)), "config.data.means (2), "
                                                           "config.data.stds (1)"),
    (dict(name="gauss1d", means=(0.0,), stds=(1.0,), weights=(0.5, 0.5)),
     "config.data.weights (2) must have the same length"),
    (dict(name="gauss1d", means=(0.0,), stds=(-1.0,)), "config.data.stds=(-1.0,) must all be"),
    (dict(name="gauss1d", means=(0.0, 1.0), stds=(1.0, 1.0), weights=(-1.0, 2.0)),
     "config.data.weights=(-1.0, 2.0) must be >= 0"),
    (dict(name="gauss1d", means="abc", stds=(1.0,)), "config.data.means='abc' must be"),
    (dict(name="ring8", std=0.0), "config.data.std=0.0 must be positive (a finite number)"),
    (dict(name="ring8", radius=-1.0), "config.data.radius=-1.0 must be positive (a finite number)"),
    (dict(name="grid25", std="wide"), "config.data.std='wide' must be positive (a finite number)"),
])
def test_bad_mixture_configs_are_one_line(cfg, message):
    with pytest.raises(ValueError) as info:
        synthetic.make_mixture(config(**cfg))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_scalar_1d_entries_and_the_toy_source():
    mixture = synthetic.make_mixture(config(name="gauss1d", means=2.0, stds=0.5))
    assert mixture.means.shape == (1, 1)
    from gan_jax import data

    source = data.get(config(name="ring8"))
    assert source.in_step and source.spec.shape == (2,) and source.spec.num_classes == 8
    example = source.sample(jax.random.PRNGKey(3))
    x, k = synthetic.sample_with_component(source.mixture, jax.random.PRNGKey(3))
    np.testing.assert_array_equal(example["image"], x)
    assert example["label"].dtype == jnp.int32 and int(example["label"]) == int(k)
    # The component is the nearest mode (std 0.01 on a ring of radius 1).
    assert int(k) == int(np.argmin(np.sum((np.asarray(source.mixture.means) - x) ** 2, 1)))
    np.testing.assert_allclose(source.class_frequencies(), np.full(8, 1 / 8))
