"""Penalties against closed forms, the training devices, spectral norm, and a few real steps."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import make_toy_config

from gan_jax import penalties, runs, state as state_lib, steps
from gan_jax.configs import ConfigError, base_config, validate
from gan_jax.models.dcgan import DCGANDiscriminator
from gan_jax.models.mlp import MLPDiscriminator


def _uniform(seed=0):
    def uniform(purpose, shape, b=16):
        return jax.random.uniform(jax.random.PRNGKey(seed * 100 + purpose), (b, *shape))
    return uniform


def _batches(d=3, b=16):
    rng = np.random.default_rng(0)
    return (jnp.asarray(rng.normal(size=(b, d)), jnp.float32),
            jnp.asarray(rng.normal(size=(b, d)) + 2.0, jnp.float32))


@pytest.mark.parametrize("norm", [0.5, 2.0])
def test_gradient_penalties_on_a_linear_d_equal_the_closed_form(norm):
    # D(x) = w.x + b has grad D = w everywhere: (||w|| - 1)^2 whatever the points.
    w = jnp.asarray([1.0, -2.0, 2.0]) / 3.0 * norm
    d_fn = lambda x: x @ w + 0.7
    real, fake = _batches()
    two_sided = (norm - 1.0) ** 2
    np.testing.assert_allclose(penalties.gradient_penalty(d_fn, real, fake, _uniform()),
                               two_sided, rtol=1e-5)
    np.testing.assert_allclose(penalties.dragan_penalty(d_fn, real, fake, _uniform()),
                               two_sided, rtol=1e-5)
    np.testing.assert_allclose(
        penalties.one_sided_gradient_penalty(d_fn, real, fake, _uniform()),
        max(norm - 1.0, 0.0) ** 2, rtol=1e-5, atol=1e-7)


def test_r1_and_r2_on_a_quadratic_d_equal_the_closed_form():
    # D(x) = x^T A x / 2 + c.x has grad D(x) = A_sym x + c.
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 3)).astype(np.float32)
    c = rng.normal(size=3).astype(np.float32)
    d_fn = lambda x, labels="real": 0.5 * jnp.einsum("bi,ij,bj->b", x, a, x) + x @ c
    real, fake = _batches()
    sym = 0.5 * (a + a.T)
    for penalty, x in ((penalties.r1_penalty, real), (penalties.r2_penalty, fake)):
        g = np.asarray(x) @ sym.T + c
        expected = 0.5 * np.mean(np.sum(g ** 2, axis=1))  # gamma/2 convention
        np.testing.assert_allclose(penalty(d_fn, real, fake, _uniform()), expected, rtol=1e-5)


def test_r2_reads_d_with_the_generated_labels_and_r1_with_the_real_ones():
    # A conditional D(x, y) = y * sum(x): the input gradient is y, so the penalty shows
    # which labels D was given.
    real, fake = _batches()
    labels = {"real": jnp.full((16,), 1.0), "fake": jnp.full((16,), 3.0)}
    d_fn = lambda x, which="real": labels[which] * jnp.sum(x, axis=1)
    d = real.shape[1]
    np.testing.assert_allclose(penalties.r1_penalty(d_fn, real, fake, _uniform()), 0.5 * d)
    np.testing.assert_allclose(penalties.r2_penalty(d_fn, real, fake, _uniform()), 0.5 * 9 * d)


def test_gp_interpolates_between_real_and_fake():
    # D(x) = ||x||^2 / 2: grad = x, so the penalty reads the interpolated points back.
    d_fn = lambda x: 0.5 * jnp.sum(x ** 2, axis=1)
    real, fake = _batches()
    eps = np.asarray(_uniform()(0, ()))[:, None]
    x = eps * np.asarray(real) + (1 - eps) * np.asarray(fake)
    expected = np.mean((np.linalg.norm(x, axis=1) - 1.0) ** 2)
    np.testing.assert_allclose(penalties.gradient_penalty(d_fn, real, fake, _uniform()),
                               expected, rtol=1e-5)


def test_instance_noise_anneals_linearly_to_zero():
    std = [float(penalties.instance_noise_std(t, 0.4, 100)) for t in (0, 25, 100, 500)]
    np.testing.assert_allclose(std, [0.4, 0.3, 0.0, 0.0], atol=1e-7)
    assert float(penalties.instance_noise_std(1000, 0.4, 0)) == pytest.approx(0.4)


def test_weight_clipping_bounds_every_parameter():
    params = {"a": jnp.asarray([-3.0, 0.005, 2.0]), "b": {"c": jnp.asarray(-0.2)}}
    clipped = penalties.clip_weights(params, 0.01)
    np.testing.assert_allclose(clipped["a"], [-0.01, 0.005, 0.01])
    assert float(clipped["b"]["c"]) == pytest.approx(-0.01)
    assert penalties.clip_weights(params, 0.0) is params


@pytest.mark.parametrize("module, x", [
    (MLPDiscriminator(hidden=32, depth=2, spectral_norm=True), jnp.ones((4, 2))),
    (DCGANDiscriminator(spectral_norm=True), jnp.ones((2, 8, 8, 1))),
], ids=["mlp", "dcgan"])
def test_spectral_norm_gives_kernels_of_top_singular_value_one(module, x):
    variables = module.init(jax.random.PRNGKey(0), x, train=False)
    params, stats = variables["params"], variables["batch_stats"]

    @jax.jit
    def power_iteration(stats):
        _, updates = module.apply({"params": params, "batch_stats": stats}, x, train=True,
                                  mutable=["batch_stats"])
        return updates["batch_stats"]

    for _ in range(100):
        stats = power_iteration(stats)
    kernels = {"/".join(str(getattr(k, "key", k)) for k in path): leaf
               for path, leaf in jax.tree_util.tree_leaves_with_path(params)
               if getattr(path[-1], "key", "") == "kernel"}
    sigmas = {"/".join(str(getattr(k, "key", k)) for k in path): leaf
              for path, leaf in jax.tree_util.tree_leaves_with_path(stats)
              if str(getattr(path[-1], "key", "")).endswith("/sigma")}
    assert len(sigmas) == len(kernels) >= 3
    for kernel, sigma in zip(kernels.values(), sigmas.values(), strict=True):
        matrix = np.asarray(kernel).reshape(-1, kernel.shape[-1])
        top = np.linalg.svd(matrix / float(sigma), compute_uv=False)[0]
        assert abs(top - 1.0) < 1e-2, top


def _ring8_steps(**fields):
    c = make_toy_config(fields=fields)
    source, gan = runs.build(c, num_devices=1)
    mesh = steps.make_mesh(jax.devices()[:1])
    state = jax.device_put(state_lib.init_state(gan, c.seed), steps.replicated(mesh))
    step = steps.parallelize(gan, mesh, c.batch_size, source.sample)
    metrics = None
    for _ in range(3):
        state, metrics = step(state, None)
    state, metrics = jax.device_get((state, metrics))
    return state, metrics


@pytest.mark.parametrize("penalty", sorted(penalties.PENALTIES))
def test_every_penalty_trains_ring8_without_nan(penalty):
    state, metrics = _ring8_steps(penalty=penalty, loss="wasserstein")
    assert all(np.isfinite(v) for v in metrics.values()), metrics
    assert all(np.all(np.isfinite(p)) for p in jax.tree.leaves(state.d_params))
    if penalty != "none":
        assert metrics["penalty"] >= 0.0


@pytest.mark.parametrize("fields", [
    {"clip_weights": 0.01, "loss": "wasserstein"},
    {"instance_noise": 0.1, "instance_noise_steps": 2},
    {"model.spectral_norm": True, "loss": "hinge"},
    {"unroll_steps": 2},
], ids=["clip", "instance_noise", "spectral_norm", "unrolled"])
def test_every_training_device_trains_ring8_without_nan(fields):
    state, metrics = _ring8_steps(**fields)
    assert all(np.isfinite(v) for v in metrics.values()), metrics
    if "clip_weights" in fields:
        assert max(float(jnp.max(jnp.abs(p))) for p in jax.tree.leaves(state.d_params)) <= 0.01


@pytest.mark.parametrize("field, value, message", [
    ("penalty", "gradient", "unknown penalty 'gradient' (config.penalty); allowed: dragan, gp,"),
    ("penalty_weight", -1.0, "config.penalty_weight=-1.0 must be a number >= 0"),
    ("unroll_steps", -1, "config.unroll_steps=-1 must be an integer >= 0"),
])
def test_bad_penalty_fields_are_one_clear_line(field, value, message):
    c = base_config()
    c[field] = value
    with pytest.raises(ConfigError) as e:
        validate(c, 1)
    assert str(e.value).startswith(message)
    assert "\n" not in str(e.value)
