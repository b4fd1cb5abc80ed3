"""The bfloat16 compute option: validated, float32 parameters and outputs, finite losses."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import runs, state as state_lib, steps
from gan_jax.configs import ConfigError, base_config, validate
from gan_jax.models import model_config

ROOT = os.path.join(os.path.dirname(__file__), "..")


def _dcgan_config(dtype, model="dcgan"):
    c = base_config()
    c.model = model_config(model, latent_dim=16)
    c.batch_size = 8
    c.compute_dtype = dtype
    return c


def test_unknown_compute_dtype_is_one_line():
    c = base_config()
    c.compute_dtype = "float16"
    with pytest.raises(ConfigError, match=r"config.compute_dtype='float16'.*bfloat16"):
        validate(c, num_devices=1)


@pytest.mark.parametrize("model,shape", [("dcgan", (28, 28, 1)), ("mlp", (2,))])
def test_bfloat16_step_has_finite_float32_losses_and_params(model, shape):
    c = _dcgan_config("bfloat16", model)
    gan = state_lib.make_gan(c, shape)
    mesh = steps.make_mesh()
    state = jax.device_put(state_lib.init_state(gan, 0), steps.replicated(mesh))
    sampler, batch = None, None
    if model == "mlp":
        sampler = lambda key: {"image": jax.random.normal(key, shape)}
    else:
        batch = {"image": jax.random.uniform(jax.random.PRNGKey(1), (1, 8, *shape), minval=-1)}
    step = steps.parallelize(gan, mesh, 8, sampler)
    for _ in range(2):
        state, metrics = step(state, batch)
    for name, value in metrics.items():
        assert value.dtype == jnp.float32 and np.isfinite(float(value)), name
    for leaf in jax.tree.leaves((state.g_params, state.d_params, state.g_batch_stats,
                                 state.d_batch_stats)):
        assert leaf.dtype == jnp.float32
    z = jnp.zeros((3, gan.latent_dim))
    samples = gan.g_apply(state.g_params, state.g_batch_stats, z)
    scores = gan.d_apply(state.d_params, state.d_batch_stats, samples)
    assert samples.dtype == scores.dtype == jnp.float32
    assert samples.shape == (3, *shape) and scores.shape == (3,)


def test_bfloat16_is_close_to_float32():
    x = jax.random.uniform(jax.random.PRNGKey(0), (4, 28, 28, 1), minval=-1)
    outs = {}
    for dtype in ("float32", "bfloat16"):
        gan = state_lib.make_gan(_dcgan_config(dtype), (28, 28, 1), axis_name=None)
        state = state_lib.init_state(gan, 0)
        outs[dtype] = gan.d_apply(state.d_params, state.d_batch_stats, x)
    np.testing.assert_allclose(outs["bfloat16"], outs["float32"], atol=0.05)


@pytest.mark.parametrize("name", ["mnist_dcgan", "fashion_dcgan"])
def test_accelerator_variant_of_the_image_configs(name):
    path = os.path.join(ROOT, "experiments", "configs", f"{name}.py")
    cpu, gpu = runs.load_config(path), runs.load_config(path + ":gpu")
    assert cpu.compute_dtype == "float32" and gpu.compute_dtype == "bfloat16"
    assert gpu.batch_size == 64 * jax.device_count()
    with pytest.raises(ValueError, match="unknown config argument"):
        runs.load_config(path + ":cuda")
