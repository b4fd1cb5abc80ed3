"""Packing (``config.model.pack``, Lin et al. 2018) and the PacGAN networks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import models, runs, state as state_lib, steps
from gan_jax.data import Spec
from gan_jax.errors import ConfigError
from gan_jax.models import pacgan
from tests.conftest import make_toy_config


def test_pack_examples_concatenates_consecutive_examples_along_the_last_axis():
    x = np.arange(12.0).reshape(6, 2)  # six 2-D points
    np.testing.assert_array_equal(models.pack_examples(x, 3),
                                  [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]])
    images = np.random.default_rng(0).normal(size=(4, 5, 5, 3)).astype(np.float32)
    packed = np.asarray(models.pack_examples(images, 2))
    assert packed.shape == (2, 5, 5, 6)
    np.testing.assert_array_equal(packed[1, ..., :3], images[2])   # group 1 = images 2, 3
    np.testing.assert_array_equal(packed[1, ..., 3:], images[3])
    assert models.pack_examples(images, 1) is images
    with pytest.raises(ValueError, match="groups of 3"):
        models.pack_examples(images, 3)


@pytest.mark.parametrize("fields,match", [
    ({"batch_size": 100, "model.pack": 3}, r"config.batch_size=100 .* config.model.pack=3"),
    ({"model.pack": 0}, r"config.model.pack=0 must be a positive integer"),
    ({"model.pack": 2.0}, r"config.model.pack=2.0 must be a positive integer"),
    ({"model.pack": 2, "model.conditioning": "concat"}, r"needs config.model.conditioning"),
])
def test_bad_packing_is_one_config_line(fields, match):
    c = make_toy_config(fields=fields)
    with pytest.raises(ConfigError, match=match) as info:
        runs.build(c, num_devices=1)
    assert "\n" not in str(info.value)


def _one_step(config):
    source, gan = runs.build(config, num_devices=1)
    mesh = steps.make_mesh(jax.devices()[:1])
    state = jax.device_put(state_lib.init_state(gan, config.seed), steps.replicated(mesh))
    new, metrics = steps.parallelize(gan, mesh, config.batch_size, source.sample)(state, None)
    return jax.device_get(new), jax.device_get(metrics)


def test_pack_1_is_bit_identical_to_no_packing():
    plain, m_plain = _one_step(make_toy_config(fields={"regularizers": {"gp": 1.0}}))
    packed, m_packed = _one_step(make_toy_config(
        fields={"regularizers": {"gp": 1.0}, "model.pack": 1}))
    assert all(jax.tree.leaves(jax.tree.map(np.array_equal, plain, packed)))
    assert all(jax.tree.leaves(jax.tree.map(np.array_equal, m_plain, m_packed)))


def test_packed_d_scores_groups_and_r1_sees_the_packed_input():
    c = make_toy_config(fields={"model.pack": 4, "regularizers": {"r1": 1.0}})
    _, gan = runs.build(c, num_devices=1)
    state = state_lib.init_state(gan, 0)
    # D's first layer reads 4 points of 2 coordinates.
    assert state.d_params["Dense_0"]["kernel"].shape[0] == 8
    rng = np.random.default_rng(0)
    real = {"image": jnp.asarray(rng.normal(size=(32, 2)), jnp.float32),
            "label": jnp.zeros((32,), jnp.int32)}
    fake = {"image": jnp.asarray(rng.normal(size=(32, 2)), jnp.float32),
            "label": jnp.zeros((32,), jnp.int32)}
    mesh = steps.make_mesh(jax.devices()[:1])
    terms = jax.jit(jax.shard_map(
        lambda r, f: steps.d_loss_terms(gan, state.d_params, state.d_batch_stats, r, f,
                                        jax.random.PRNGKey(0), jnp.zeros((), jnp.int32)),
        mesh=mesh, in_specs=steps.P(), out_specs=steps.P(), check_vma=False))
    _, (_, real_logits, fake_logits, d_loss, (penalty, _)) = terms(real, fake)
    assert real_logits.shape == fake_logits.shape == (8,)      # B / m packed examples

    # Reference: pack by hand, score with the bare module, R1 = 1/2 mean ||grad||^2 over the
    # 8 packed inputs of 8 coordinates each.
    def d(x):
        return gan.discriminator.apply({"params": state.d_params}, x)

    packed_real = np.asarray(real["image"]).reshape(8, 8)
    packed_fake = np.asarray(fake["image"]).reshape(8, 8)
    np.testing.assert_allclose(real_logits, d(packed_real), rtol=1e-6, atol=1e-6)
    ref_loss = (np.mean(np.logaddexp(0, -d(packed_real)))
                + np.mean(np.logaddexp(0, d(packed_fake))))
    np.testing.assert_allclose(d_loss, ref_loss, rtol=1e-5)
    grads = jax.grad(lambda x: jnp.sum(d(x)))(jnp.asarray(packed_real))
    np.testing.assert_allclose(penalty, 0.5 * np.mean(np.sum(np.square(grads), axis=1)),
                               rtol=1e-5)


def test_gradient_penalty_runs_on_packed_images():
    c = make_toy_config(fields={"model.pack": 2, "regularizers": {"gp": 10.0},
                                "batch_size": 8})
    c.model = models.model_config("pacgan_dcgan", latent_dim=8, g_width=4, d_width=4, pack=2)
    spec = Spec((28, 28, 3), (-1.0, 1.0), None)
    gan = state_lib.make_gan(c, spec)
    state = state_lib.init_state(gan, 0)
    assert state.d_params["Conv_0"]["kernel"].shape == (5, 5, 6, 4)
    mesh = steps.make_mesh(jax.devices()[:1])
    batch = {"image": jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (1, 8, 28, 28, 3)),
                                  jnp.float32)}
    new, metrics = steps.parallelize(gan, mesh, 8)(state, batch)
    assert np.isfinite(float(metrics["penalty"])) and float(metrics["penalty"]) > 0
    assert np.isfinite(float(metrics["d_loss"]))


def test_maxout_is_the_maximum_over_pieces():
    layer = pacgan.MaxoutDense(features=2, pieces=3)
    x = jnp.asarray([[1.0, -2.0]])
    params = layer.init(jax.random.PRNGKey(0), x)["params"]
    w, b = params["Dense_0"]["kernel"], params["Dense_0"]["bias"]
    linear = (np.asarray(x) @ np.asarray(w) + np.asarray(b)).reshape(1, 2, 3)
    np.testing.assert_allclose(layer.apply({"params": params}, x), linear.max(-1), rtol=1e-6)


def test_pacgan_networks_have_the_released_code_shapes():
    g, d = pacgan.build_mlp(Spec((2,), None, None), None)
    z = jnp.zeros((5, 2))
    gv = g.init(jax.random.PRNGKey(0), z, train=False)
    assert len(gv["batch_stats"]) == 4
    assert all("bias" not in gv["params"][f"Dense_{i}"] for i in range(4))
    dv = d.init(jax.random.PRNGKey(0), jnp.zeros((5, 6)), train=False)
    assert [dv["params"][f"MaxoutDense_{i}"]["Dense_0"]["kernel"].shape for i in range(3)] == [
        (6, 1000), (200, 1000), (200, 1000)]
    std = float(np.std(np.asarray(dv["params"]["MaxoutDense_1"]["Dense_0"]["kernel"])))
    assert abs(std - 0.02) < 0.001
    # The DCGAN lands on TensorFlow's "SAME" sizes 2 -> 4 -> 7 -> 14 -> 28.
    assert [pacgan.same_transpose_padding(a, b, 5, 2) for a, b in
            [(2, 4), (4, 7), (7, 14), (14, 28)]] == [(3, 2), (2, 2), (3, 2), (3, 2)]
    g, _ = pacgan.build_dcgan(Spec((28, 28, 3), (-1.0, 1.0), None), None, g_width=4)
    out = g.apply(g.init(jax.random.PRNGKey(0), jnp.zeros((2, 100)), train=False),
                  jnp.ones((2, 100)), train=False)
    assert out.shape == (2, 28, 28, 3) and float(jnp.max(jnp.abs(out))) <= 1.0
    with pytest.raises(ValueError, match="pacgan_dcgan"):
        pacgan.build_mlp(Spec((28, 28, 3), (-1.0, 1.0), None), None)


@pytest.mark.parametrize("net", ["G", "D"])
def test_stacked_dcgan_fast_layers_equal_flax_layers(net):
    # The Stacked MNIST DCGAN (28x28x3, narrow) with gan_jax's layer forms against the same
    # network of nn.ConvTranspose / nn.Conv (TensorFlow's explicit padding for 4 -> 7): the
    # same parameter tree, outputs, and gradients w.r.t. parameters and input to 1e-5 of the
    # largest gradient entry (float32 sums in another order; the biases before batch norm
    # have gradients that cancel to rounding noise).
    spec = Spec((28, 28, 3), (-1.0, 1.0), None)
    fast, plain = (pacgan.build_dcgan(spec, None, g_width=8, d_width=8, plain_layers=p)
                   for p in (False, True))
    i = 0 if net == "G" else 1
    x = (jax.random.normal(jax.random.PRNGKey(0), (4, 100)) if net == "G"
         else jax.random.normal(jax.random.PRNGKey(0), (4, 28, 28, 6)))
    variables = fast[i].init(jax.random.PRNGKey(1), x, train=False)
    assert (jax.tree.map(jnp.shape, variables)
            == jax.tree.map(jnp.shape, plain[i].init(jax.random.PRNGKey(1), x, train=False)))
    params = jax.tree.map(lambda p: p + 0.01, variables["params"])  # non-zero biases too

    def loss(module, p, x):
        out, _ = module.apply({**variables, "params": p}, x, train=True,
                              mutable=["batch_stats"])
        return jnp.sum(jnp.sin(3.0 * out)), out

    (_, out_fast), g_fast = jax.value_and_grad(
        lambda p, x: loss(fast[i], p, x), argnums=(0, 1), has_aux=True)(params, x)
    (_, out_plain), g_plain = jax.value_and_grad(
        lambda p, x: loss(plain[i], p, x), argnums=(0, 1), has_aux=True)(params, x)
    np.testing.assert_allclose(out_fast, out_plain, rtol=1e-5, atol=1e-5)
    for tree_plain, tree_fast in zip(g_plain, g_fast, strict=True):
        scale = max(float(jnp.max(jnp.abs(a))) for a in jax.tree.leaves(tree_plain))
        for a, b in zip(jax.tree.leaves(tree_plain), jax.tree.leaves(tree_fast), strict=True):
            np.testing.assert_allclose(b, a, rtol=0, atol=1e-5 * scale)


def test_transpose_crop_selects_tensorflow_output_sizes():
    assert [pacgan.transpose_crop(a, b, 5, 2) for a, b in
            [(2, 4), (4, 7), (7, 14), (14, 28)]] == [(0, 0), (1, 0), (0, 0), (0, 0)]
    with pytest.raises(ValueError, match="cannot map side 4 to side 9"):
        pacgan.transpose_crop(4, 9, 5, 2)
