"""The BigGAN-style family (registry ``biggan``): parameter counts against the reference,
shapes, output range, cBN gain 1, attention as the identity, hierarchical latent, spectral
norm in G, orthogonal init, errors.

Reference: BigGAN-PyTorch (ajbrock/BigGAN-PyTorch, commit
98459431a5d618d644d54cd1e9fceb1e5045648d), ``BigGAN.py``: ``Generator(resolution=R,
G_ch=ch, dim_z=120, shared_dim=128, hier=True, G_shared=True, n_classes=K, G_attn=A)`` and
``Discriminator(resolution=R, D_ch=ch, D_wide=True, D_attn=A, n_classes=K)``, counted as
``sum(p.numel() for p in m.parameters() if p.requires_grad)``: trainable parameters only
(weights, biases, the output batch norm's gain and bias, attention's gamma, the shared and
the projection embeddings); spectral norm's ``u``/``sv`` and batch norm's stored statistics
are buffers there and live in ``batch_stats`` here. The 128x128 row at ch 96 and 1,000
classes is the paper's ImageNet model (G 70.4M, D 88.0M parameters).
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import data, models
from gan_jax.models import biggan, model_config

# (side, ch, classes, attention side) -> (G, D) trainable parameters of the reference.
REFERENCE_COUNTS = {
    (32, 64, 10, 32): (4_440_836, 4_207_361),
    (64, 64, 1000, 32): (31_969_540, 20_571_842),
    (128, 96, 1000, 64): (70_433_988, 87_982_370),
}


def _pair(side, classes=10, **fields):
    spec = data.Spec((side, side, 3), (-1.0, 1.0), classes or None)
    return models.build_models(model_config("biggan", **fields), spec)


def _count(tree):
    return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(tree))


@pytest.mark.parametrize("key", list(REFERENCE_COUNTS), ids=str)
def test_parameter_counts_equal_the_reference(key):
    side, ch, classes, attention = key
    g, d = _pair(side, classes, g_ch=ch, d_ch=ch, attention=attention,
                 conditioning="cbn+projection")
    z, y = jnp.zeros((2, 120)), jnp.zeros((2,), jnp.int32)
    x = jnp.zeros((2, side, side, 3))
    gv = jax.eval_shape(lambda: g.init(jax.random.PRNGKey(0), z, y, train=False))
    dv = jax.eval_shape(lambda: d.init(jax.random.PRNGKey(0), x, y, train=False))
    assert (_count(gv["params"]), _count(dv["params"])) == REFERENCE_COUNTS[key]
    # One attention block in G; in D one too, except at 32 where D has no 32x32 block.
    assert sum("gamma" in jax.tree_util.keystr(k) for k, _ in
               jax.tree_util.tree_leaves_with_path(gv["params"])) == 1
    assert sum("gamma" in jax.tree_util.keystr(k) for k, _ in
               jax.tree_util.tree_leaves_with_path(dv["params"])) == (side != 32)


@pytest.mark.parametrize("side,attention", [(32, 16), (64, 32), (128, 64)])
def test_shapes(side, attention):
    g, d = _pair(side, g_ch=8, d_ch=8, attention=attention, conditioning="cbn+projection")
    z, y = jnp.zeros((2, 120)), jnp.array([0, 9])
    gv = jax.eval_shape(lambda: g.init(jax.random.PRNGKey(0), z, y, train=False))
    x = jax.eval_shape(lambda v: g.apply(v, z, y, train=False), gv)
    assert x.shape == (2, side, side, 3) and x.dtype == jnp.float32
    dv = jax.eval_shape(lambda x: d.init(jax.random.PRNGKey(0), x, y, train=False), x)
    assert jax.eval_shape(lambda v, x: d.apply(v, x, y, train=False), dv, x).shape == (2,)


def test_output_range_and_the_hierarchical_latent():
    g, d = _pair(32, g_ch=8, d_ch=8, attention=16, conditioning="cbn+projection")
    z = 3.0 * jax.random.normal(jax.random.PRNGKey(1), (2, 120))
    y = jnp.array([0, 9])
    last = z.at[:, -30:].add(1.0)  # the last of 4 chunks

    @jax.jit
    def run(z, last, y):
        gv = g.init(jax.random.PRNGKey(0), z, y, train=False)
        x, _ = g.apply(gv, z, y, train=True, mutable=["batch_stats"])
        x_last, _ = g.apply(gv, last, y, train=True, mutable=["batch_stats"])
        dv = d.init(jax.random.PRNGKey(0), x, y, train=False)
        return x, x_last, d.apply(dv, x, y, train=False)

    x, x_last, scores = run(z, last, y)
    assert float(jnp.max(jnp.abs(x))) <= 1.0 and float(jnp.std(x)) > 1e-3
    assert np.all(np.isfinite(scores))
    # The last chunk of z reaches G only through the last block's batch norms.
    assert not np.allclose(x, x_last)


def test_conditional_batch_norm_gain_starts_at_one():
    # Zero conditioning: the gain is exactly 1 and the bias 0 (an offset of 0 would zero h).
    bn = biggan.LinearConditionalBatchNorm()
    h = jax.random.normal(jax.random.PRNGKey(0), (8, 4, 4, 16)) * 3.0 + 2.0
    c = jnp.zeros((8, 24))
    v = bn.init(jax.random.PRNGKey(1), h, c, False)
    out, _ = bn.apply(v, h, c, True, mutable=["batch_stats"])
    mean, var = h.mean((0, 1, 2)), h.var((0, 1, 2))
    np.testing.assert_allclose(out, (h - mean) / jnp.sqrt(var + 1e-5), rtol=1e-4, atol=1e-4)
    # A random conditioning moves each gain around 1, not around 0.
    c = jax.random.normal(jax.random.PRNGKey(2), (4096, 24))
    gains = 1.0 + c @ v["params"]["gain"]["kernel"]
    assert abs(float(gains.mean()) - 1.0) < 0.05


def test_self_attention_starts_as_the_identity():
    attn = biggan.SelfAttention()
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 16))
    v = attn.init(jax.random.PRNGKey(1), x, False)
    assert float(v["params"]["gamma"]) == 0.0
    np.testing.assert_array_equal(attn.apply(v, x, False), x)
    moved = jax.tree_util.tree_map_with_path(
        lambda p, a: a + 0.5 if "gamma" in jax.tree_util.keystr(p) else a, v)
    assert not np.allclose(attn.apply(moved, x, False), x)


def test_spectral_norm_in_g_and_orthogonal_init():
    g, _ = _pair(32, g_ch=8, d_ch=8, attention=16, conditioning="cbn+projection")
    z, y = jax.random.normal(jax.random.PRNGKey(0), (2, 120)), jnp.array([1, 2])
    v = jax.jit(lambda: g.init(jax.random.PRNGKey(0), z, y, train=False))()
    sn = [k for k, _ in jax.tree_util.tree_leaves_with_path(v["batch_stats"])
          if jax.tree_util.keystr(k).endswith("/u']")]
    kernels = [k for k, a in jax.tree_util.tree_leaves_with_path(v["params"]) if a.ndim > 1]
    # Every kernel of G is spectrally normalised except the shared class embedding.
    assert len(sn) == len(kernels) - 1
    # Orthogonal: the shared embedding [10, 128] has orthonormal rows.
    e = np.asarray(v["params"]["shared"]["embedding"])
    np.testing.assert_allclose(e @ e.T, np.eye(10), atol=1e-5)


def test_unconditional_players_ignore_the_label():
    g, d = _pair(32, g_ch=8, d_ch=8, attention=16)
    z = jax.random.normal(jax.random.PRNGKey(1), (2, 120))

    @jax.jit
    def run(z):
        gv = g.init(jax.random.PRNGKey(0), z, None, train=False)
        x = g.apply(gv, z, None, train=False)
        dv = d.init(jax.random.PRNGKey(0), x, None, train=False)
        other = jnp.array([3, 7])
        return (x, g.apply(gv, z, other, train=False), d.apply(dv, x, None, train=False),
                d.apply(dv, x, other, train=False))

    x, x_y, s, s_y = run(z)
    np.testing.assert_array_equal(x, x_y)
    np.testing.assert_array_equal(s, s_y)


@pytest.mark.parametrize("shape,fields,message", [
    ((48, 48, 3), {}, "config.model.name='biggan' needs square images of side 32, 64, 128, "
                      "got data shape (48, 48, 3)"),
    ((64, 64, 3), {"latent_dim": 128}, "config.model.latent_dim=128 must be divisible by 5"),
    ((32, 32, 3), {"attention": 64}, "config.model.attention=64 must be one of G's "
                                     "feature-map sides 8, 16, 32 at side 32"),
    ((32, 32, 3), {"g_ch": 12}, "config.model.g_ch=12 must be a multiple of 8"),
    ((32, 32, 3), {"conditioning": "acgan"},
     "unknown conditioning 'acgan' (config.model.conditioning) for model 'biggan'"),
])
def test_errors_are_one_line(shape, fields, message):
    with pytest.raises(ValueError) as info:
        models.build_models(model_config("biggan", **fields), data.Spec(shape, (-1, 1), 10))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_cifar10_biggan_cond_config_trains_two_steps_on_mock_data(tmp_path):
    import tensorflow_datasets as tfds
    from test_resnet import _tiny_run

    from gan_jax import runs

    config = runs.load_config(os.path.join(os.path.dirname(__file__), "..", "experiments",
                                           "configs", "cifar10_biggan_cond.py"))
    assert config.model.conditioning == "cbn+projection" and config.n_disc == 4
    with tfds.testing.mock_data(num_examples=24):  # n_disc x batch = 16 per step
        _tiny_run(config, tmp_path / "run", g_ch=8, d_ch=8, attention=16)
