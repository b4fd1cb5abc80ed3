"""The step functions: sharded == single device, G step leaves D alone, keys."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from conftest import make_toy_config

from gan_jax import losses, runs, state as state_lib, steps
from gan_jax.configs import base_config
from gan_jax.models import model_config

HERE = os.path.dirname(__file__)


@pytest.mark.parametrize("model", ["dcgan", "dcgan_diffaugment", "mlp", "mlp_concat",
                                   "mlp_acgan", "mlp_pack", "resnet_cond_diffaugment"])
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


def _toy(n_disc=1, loss="nonsaturating", fields=None):
    c = make_toy_config(fields={"n_disc": n_disc, "loss": loss, **(fields or {})})
    source, gan = runs.build(c, num_devices=1)
    mesh = steps.make_mesh(jax.devices()[:1])
    state = jax.device_put(state_lib.init_state(gan, c.seed), steps.replicated(mesh))
    return c, gan, mesh, state, source.sample


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
    real = {"image": np.random.default_rng(0).normal(size=(32, 2)).astype(np.float32),
            "label": np.arange(32, dtype=np.int32) % 8}
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


def test_generated_labels_follow_the_configured_distribution():
    # A 1-D mixture of 8 components with all the weight on 0 and 1 (3:1): "data" draws
    # labels at those frequencies, "uniform" over all 8; each from fold_in(key, example).
    c = make_toy_config(fields={"data.name": "gauss1d", "generated_labels": "data"})
    c.data.means, c.data.stds = tuple(float(i) for i in range(8)), (0.1,) * 8
    c.data.weights = (3.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    _, gan = runs.build(c, num_devices=1)
    mesh = steps.make_mesh(jax.devices()[:1])
    draw = jax.jit(jax.shard_map(lambda k: steps.label_batch(gan, k, 4000), mesh=mesh,
                                 in_specs=steps.P(), out_specs=steps.P(steps.AXIS)))
    y = np.asarray(draw(jax.random.PRNGKey(0)))
    assert y.dtype == np.int32 and set(np.unique(y)) == {0, 1}
    assert abs(np.mean(y == 0) - 0.75) < 0.03
    assert int(y[7]) == int(gan.draw_label(jax.random.fold_in(jax.random.PRNGKey(0), 7)))
    c.generated_labels = "uniform"
    _, gan = runs.build(c, num_devices=1)
    y = np.asarray(jax.jit(jax.shard_map(lambda k: steps.label_batch(gan, k, 4000), mesh=mesh,
                                         in_specs=steps.P(), out_specs=steps.P(steps.AXIS)))(
        jax.random.PRNGKey(0)))
    counts = np.bincount(y, minlength=8)
    assert counts.min() > 400 and counts.max() < 600


def test_lazy_regularizer_runs_on_every_kth_d_update_with_k_times_the_weight():
    plain = _toy(fields={"regularizers": {"r1": 2.0}})
    lazy = _toy(fields={"regularizers": {"r1": {"weight": 2.0, "every": 3}}})
    both = _toy(fields={"regularizers": {"r1": 2.0, "gp": 1.0}})
    terms = {}
    for name, (c, gan, mesh, state, sampler) in {"plain": plain, "lazy": lazy,
                                                  "both": both}.items():
        step = steps.parallelize(gan, mesh, c.batch_size, sampler)
        terms[name] = []
        for _ in range(4):
            state, metrics = step(state, None)
            terms[name].append(jax.device_get(metrics))
    # The same first D update: r1 computed with weight 2, or lazily with weight 2 * 3.
    r1 = terms["plain"][0]["penalty"]
    assert r1 > 0
    np.testing.assert_allclose(terms["lazy"][0]["penalty"], 3 * r1, rtol=1e-5)
    assert [float(m["penalty"]) for m in terms["lazy"][1:3]] == [0.0, 0.0]
    assert terms["lazy"][3]["penalty"] > 0
    first = terms["both"][0]
    np.testing.assert_allclose(first["penalty_r1"], r1, rtol=1e-5)
    np.testing.assert_allclose(first["penalty"], first["penalty_r1"] + first["penalty_gp"],
                               rtol=1e-6)


def test_indivisible_batch_is_refused_up_front():
    from gan_jax.configs import ConfigError, validate

    c = base_config()
    c.batch_size = 30
    with pytest.raises(ConfigError, match="config.batch_size=30 is not divisible by the 4"):
        validate(c, num_devices=4)


def _unroll_setup(lr=0.1):
    c = base_config()
    c.batch_size = 8
    c.model = model_config("mlp", hidden=8, depth=1)
    c.optim.d = ml_collections.ConfigDict(dict(name="sgd", lr=lr))
    gan = state_lib.make_gan(c, (2,))
    state = state_lib.init_state(gan, 0)
    rng = np.random.default_rng(3)
    z, zu = (jnp.asarray(rng.normal(size=(8, 2)), jnp.float32) for _ in range(2))
    real = jnp.asarray(rng.normal(size=(8, 2)), jnp.float32)
    mesh = steps.make_mesh(jax.devices()[:1])

    def unrolled_grad(unroll_z):
        unroll = None if unroll_z is None else (unroll_z, None)
        def grad_fn(g_params):
            return jax.grad(lambda g: steps.g_loss_fn(
                gan, state, g, z, None, {"image": real}, unroll,
                jax.random.PRNGKey(0))[0])(g_params)
        return jax.jit(jax.shard_map(grad_fn, mesh=mesh, in_specs=steps.P(),
                                     out_specs=steps.P(), check_vma=False))(state.g_params)

    g = lambda params, x: gan.generator.apply({"params": params}, x)
    d = lambda params, x: gan.discriminator.apply({"params": params}, x)
    return gan, state, z, zu, real, unrolled_grad, g, d


def _assert_trees_close(a, b, rtol=1e-5, atol=1e-7):
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=rtol, atol=atol), a, b)


def test_unrolled_g_gradient_with_k0_is_the_plain_g_gradient():
    gan, state, z, zu, real, unrolled_grad, g, d = _unroll_setup()
    plain = jax.grad(lambda gp: losses.nonsaturating_g_loss(None, d(state.d_params, g(gp, z))))(
        state.g_params)
    _assert_trees_close(unrolled_grad(None), plain)
    _assert_trees_close(unrolled_grad(jnp.zeros((0, 8, 2))), plain)


def test_unrolled_g_gradient_with_k1_equals_a_hand_written_unroll():
    lr = 0.1
    gan, state, z, zu, real, unrolled_grad, g, d = _unroll_setup(lr)

    def hand_unrolled_loss(g_params):
        # One SGD step of D on (real, G(zu)), differentiable in G, then G's loss against it.
        fake_u = g(g_params, zu)
        d_grads = jax.grad(lambda dp: losses.classifier_d_loss(d(dp, real), d(dp, fake_u)))(
            state.d_params)
        d1 = jax.tree.map(lambda p, gr: p - lr * gr, state.d_params, d_grads)
        return losses.nonsaturating_g_loss(None, d(d1, g(g_params, z)))

    hand = jax.grad(hand_unrolled_loss)(state.g_params)
    _assert_trees_close(unrolled_grad(zu[None]), hand, rtol=1e-4, atol=1e-6)
    plain = unrolled_grad(None)
    diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in
               zip(jax.tree.leaves(hand), jax.tree.leaves(plain), strict=True))
    assert diff > 1e-4, "the unrolled step made no difference; the test would prove nothing"
