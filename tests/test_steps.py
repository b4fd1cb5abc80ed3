"""The step functions: sharded == single device, G step leaves D alone, keys."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from gan_jax import state as state_lib, steps
from gan_jax.configs import base_config
from gan_jax.data import synthetic

HERE = os.path.dirname(__file__)


@pytest.mark.parametrize("model", ["dcgan", "mlp"])
def test_sharded_step_on_4_devices_equals_one_device(model):
    # A subprocess, so that the fake device count is set before JAX starts.
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, os.path.join(HERE, "_sharded_step.py"), model],
                         capture_output=True, text=True, env=env, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    diffs = json.loads(out.stdout.strip().splitlines()[-1])
    # allclose(rtol=1e-5, atol=1e-6): the atol covers parameters whose true gradient is 0
    # (biases in front of BatchNorm), which only move by float rounding.
    assert diffs["changed"] > 1e-4, "training did not move the parameters"
    assert diffs["params"] < 1e-6, diffs
    assert diffs["batch_stats"] < 1e-6, diffs
    assert diffs["metrics"] < 1e-6, diffs


def _toy(n_disc=1, loss="nonsaturating"):
    c = base_config()
    c.batch_size, c.n_disc, c.loss = 32, n_disc, loss
    c.model.hidden, c.model.depth = 16, 2
    mixture = synthetic.make_mixture(c.data)
    gan = state_lib.make_gan(c, (2,))
    mesh = steps.make_mesh(jax.devices()[:1])
    state = jax.device_put(state_lib.init_state(gan, c.seed), steps.replicated(mesh))
    return c, gan, mesh, state, (lambda k: synthetic.sample(mixture, k))


def test_g_step_changes_only_the_generator():
    c, gan, mesh, state, sampler = _toy()
    before = jax.device_get(state)
    g_only = jax.jit(jax.shard_map(
        lambda s: steps.g_step(gan, s, jax.random.PRNGKey(1), 32), mesh=mesh,
        in_specs=steps.P(), out_specs=steps.P(), check_vma=False))
    after, metrics = jax.device_get(g_only(state))
    same = jax.tree.map(np.array_equal, before.d_params, after.d_params)
    assert all(jax.tree.leaves(same))
    moved = jax.tree.map(lambda a, b: not np.array_equal(a, b), before.g_params, after.g_params)
    assert all(jax.tree.leaves(moved))
    assert np.isfinite(metrics["g_loss"]) and metrics["g_grad_norm"] > 0


def test_d_step_changes_only_the_discriminator():
    c, gan, mesh, state, sampler = _toy()
    before = jax.device_get(state)
    real = np.random.default_rng(0).normal(size=(32, 2)).astype(np.float32)
    d_only = jax.jit(jax.shard_map(
        lambda s, x: steps.d_step(gan, s, x, jax.random.PRNGKey(1)), mesh=mesh,
        in_specs=(steps.P(), steps.P(steps.AXIS)), out_specs=steps.P(), check_vma=False))
    after, _ = jax.device_get(d_only(state, real))
    assert all(jax.tree.leaves(jax.tree.map(np.array_equal, before.g_params, after.g_params)))
    assert not all(jax.tree.leaves(jax.tree.map(np.array_equal, before.d_params, after.d_params)))


def test_train_step_counts_and_is_deterministic():
    c, gan, mesh, state, sampler = _toy(n_disc=3)
    step = steps.parallelize(gan, mesh, c.batch_size, sampler)
    s1, _ = step(state, None)
    s1 = jax.device_get(s1)
    assert int(s1.step) == 1
    c, gan, mesh, state, sampler = _toy(n_disc=3)
    s2, _ = steps.parallelize(gan, mesh, c.batch_size, sampler)(state, None)
    same = jax.tree.map(np.array_equal, s1, jax.device_get(s2))
    assert all(jax.tree.leaves(same))


def test_latents_do_not_depend_on_the_device_split():
    mesh1 = steps.make_mesh(jax.devices()[:1])
    draw = jax.jit(jax.shard_map(lambda k: steps.latent_batch(k, 8, 3), mesh=mesh1,
                                 in_specs=steps.P(), out_specs=steps.P(steps.AXIS)))
    z = np.asarray(draw(jax.random.PRNGKey(0)))
    assert z.shape == (8, 3)
    # Example i's latent is drawn from fold_in(key, i) alone.
    z3 = jax.random.normal(jax.random.fold_in(jax.random.PRNGKey(0), 3), (3,))
    np.testing.assert_array_equal(z[3], np.asarray(z3))
    assert np.abs(z.mean()) < 1.0 and 0.3 < z.std() < 2.0


def test_indivisible_batch_is_refused_up_front():
    from gan_jax.configs import ConfigError, validate

    c = base_config()
    c.batch_size = 30
    with pytest.raises(ConfigError, match="config.batch_size=30 is not divisible by the 4"):
        validate(c, num_devices=4)
