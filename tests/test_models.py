"""Models: shapes, output ranges, exact parameter counts, purity, registry errors."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gan_jax import models
from gan_jax.data import Spec
from gan_jax.state import param_count


def build(name, shape, **kw):
    cfg = ml_collections.ConfigDict(dict(name=name, latent_dim=kw.pop("latent_dim", 64), **kw))
    g, d = models.build_models(cfg, shape)
    z = jnp.zeros((2, cfg.latent_dim))
    g_vars = g.init(jax.random.PRNGKey(0), z, train=False)
    d_vars = d.init(jax.random.PRNGKey(1), jnp.zeros((2, *shape)), train=False)
    return cfg, g, d, g_vars, d_vars


def dense(i, o):
    return i * o + o


def conv(k, i, o):
    return k * k * i * o + o


def bn(c):
    return 2 * c


def dcgan_counts(side, channels, latent=64):
    q = side // 4
    g = (dense(latent, 1024) + bn(1024) + dense(1024, q * q * 128) + bn(q * q * 128)
         + conv(4, 128, 64) + bn(64) + conv(4, 64, channels))
    d = (conv(4, channels, 64) + conv(4, 64, 128) + bn(128) + dense(q * q * 128, 1024)
         + bn(1024) + dense(1024, 1))
    return g, d


# Pinned totals: the formula above must also not drift (28x28x1 is the ~13.2M model
# of Lucic et al.; 16x16x2 stands for "any square side divisible by 4").
PINNED = {(28, 1): (6_642_241, 6_559_169), (32, 3): (8_616_131, 8_527_297)}


@pytest.mark.parametrize("side,channels", [(28, 1), (32, 3), (16, 2)])
def test_dcgan_shapes_range_and_parameter_counts(side, channels):
    cfg, g, d, g_vars, d_vars = build("dcgan", (side, side, channels))
    expected_g, expected_d = dcgan_counts(side, channels)
    assert param_count(g_vars["params"]) == expected_g
    assert param_count(d_vars["params"]) == expected_d
    if (side, channels) in PINNED:
        assert (expected_g, expected_d) == PINNED[side, channels]
    z = 3.0 * jax.random.normal(jax.random.PRNGKey(2), (5, 64))
    x = g.apply(g_vars, z, train=False)
    assert x.shape == (5, side, side, channels) and x.dtype == jnp.float32
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0
    scores = d.apply(d_vars, x, train=False)
    assert scores.shape == (5,)
    assert set(g_vars["batch_stats"]) and set(d_vars["batch_stats"])


@pytest.mark.parametrize("dim", [1, 2, 5])
def test_mlp_shapes_and_parameter_counts(dim):
    cfg, g, d, g_vars, d_vars = build("mlp", (dim,), latent_dim=3, hidden=16, depth=2)
    assert param_count(g_vars["params"]) == dense(3, 16) + dense(16, 16) + dense(16, dim)
    assert param_count(d_vars["params"]) == dense(dim, 16) + dense(16, 16) + dense(16, 1)
    z = 100.0 * jnp.ones((4, 3))
    x = g.apply(g_vars, z)
    assert x.shape == (4, dim) and x.dtype == jnp.float32
    assert d.apply(d_vars, x).shape == (4,)
    assert "batch_stats" not in g_vars


def test_mlp_defaults_when_config_omits_hidden_and_depth():
    cfg, g, d, g_vars, d_vars = build("mlp", (2,), latent_dim=2)
    assert (g.hidden, g.depth, d.hidden, d.depth) == (128, 3, 128, 3)
    assert param_count(g_vars["params"]) == dense(2, 128) + 2 * dense(128, 128) + dense(128, 2)
    assert param_count(d_vars["params"]) == 33_537


def test_mlp_is_a_pure_function_of_its_params():
    cfg, g, d, g_vars, d_vars = build("mlp", (2,), latent_dim=2, hidden=8, depth=2)
    z = jax.random.normal(jax.random.PRNGKey(4), (6, 2))
    np.testing.assert_array_equal(g.apply(g_vars, z, train=True), g.apply(g_vars, z))
    x = g.apply(g_vars, z)
    np.testing.assert_array_equal(d.apply(d_vars, x, train=True),
                                  d.apply(d_vars, x, train=False))


def test_models_are_pure_functions_of_their_variables():
    cfg, g, d, g_vars, d_vars = build("dcgan", (28, 28, 1))
    z = jax.random.normal(jax.random.PRNGKey(3), (4, 64))
    before = jax.tree.map(np.asarray, g_vars)
    out1, updates = g.apply(g_vars, z, train=True, mutable=["batch_stats"])
    out2, _ = g.apply(g_vars, z, train=True, mutable=["batch_stats"])
    np.testing.assert_array_equal(out1, out2)
    assert all(jax.tree.leaves(jax.tree.map(np.array_equal, before, g_vars)))
    moved = jax.tree.map(lambda a, b: not np.array_equal(a, b),
                         updates["batch_stats"], g_vars["batch_stats"])
    assert any(jax.tree.leaves(moved))
    # D's score of a batch in train mode depends on the batch (batch statistics) ...
    x = g.apply(g_vars, z, train=False)
    full, _ = d.apply(d_vars, x, train=True, mutable=["batch_stats"])
    half, _ = d.apply(d_vars, x[:2], train=True, mutable=["batch_stats"])
    assert not np.allclose(full[:2], half)
    # ... and in eval mode it does not.
    np.testing.assert_allclose(d.apply(d_vars, x, train=False)[:2],
                               d.apply(d_vars, x[:2], train=False), rtol=1e-5, atol=1e-6)


def test_init_weights_follow_n0_002():
    cfg, g, d, g_vars, d_vars = build("dcgan", (28, 28, 1))
    kernel = np.asarray(d_vars["params"]["Dense_0"]["kernel"])
    assert abs(kernel.std() - 0.02) < 0.001 and abs(kernel.mean()) < 0.001


@pytest.mark.parametrize("name,shape,message", [
    ("stylegan", (28, 28, 1),
     "unknown model 'stylegan' (config.model.name); allowed: biggan, dcgan, dcgan64, mlp"),
    ("dcgan", (30, 30, 1), "needs square images with side divisible by 4, got data shape "
                           "(30, 30, 1)"),
    ("dcgan", (2,), "needs square images"),
    ("mlp", (28, 28, 1), "'mlp' needs flat vectors"),
])
def test_registry_errors_name_the_field(name, shape, message):
    cfg = ml_collections.ConfigDict(dict(name=name, latent_dim=8))
    for check in (models.check_model, models.build_models):
        with pytest.raises(ValueError) as info:
            check(cfg, shape)
        assert message in str(info.value) and "\n" not in str(info.value)
        assert "config.model.name" in str(info.value)


def test_registry_builders_return_generator_and_discriminator():
    assert sorted(models.MODELS) == ["biggan", "dcgan", "dcgan64", "mlp", "pacgan_dcgan",
                                     "pacgan_mlp", "resnet"]
    g, d = models.MODELS["dcgan"](Spec((28, 28, 1), (-1.0, 1.0), None), "data", latent_dim=8)
    assert g.axis_name == d.axis_name == "data"


def test_a_models_fields_are_its_builders_keyword_arguments():
    assert list(models.fields("dcgan")) == ["latent_dim", "spectral_norm", "conditioning",
                                            "acgan_weight"]
    cfg = models.model_config("mlp", hidden=16)
    assert cfg.to_dict() == dict(name="mlp", latent_dim=2, hidden=16, depth=3,
                                 spectral_norm=False, conditioning="none", acgan_weight=1.0)
    with pytest.raises(ValueError, match="model 'dcgan' has no field 'hidden'"):
        models.model_config("dcgan", hidden=16)


@pytest.mark.parametrize("field,value,message", [
    ("hiden", 3, "unknown field config.model.hiden of model 'mlp'; did you mean "
                 "config.model.hidden? allowed fields: latent_dim, hidden,"),
    ("hidden", 0, "config.model.hidden=0 must be a positive integer"),
    ("spectral_norm", 1, "config.model.spectral_norm=1 must be True or False"),
    ("conditioning", "cbn", "unknown conditioning 'cbn' (config.model.conditioning) for model "
                            "'mlp'; allowed: none, concat"),
])
def test_model_fields_are_checked_against_the_builder(field, value, message):
    cfg = models.model_config("mlp")
    with cfg.ignore_type():
        cfg[field] = value
    with pytest.raises(ValueError) as info:
        models.check_model(cfg, Spec((2,), None, 8))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_conditioning_needs_labelled_data():
    cfg = models.model_config("mlp", conditioning="concat")
    with pytest.raises(ValueError, match="needs labelled data, but the data source has no "
                                         "labels"):
        models.check_model(cfg, Spec((2,), None, None))
    g, d = models.build_models(cfg, Spec((2,), None, 8))
    y = jnp.arange(4) % 8
    g_vars = g.init(jax.random.PRNGKey(0), jnp.zeros((4, 2)), y, train=False)
    d_vars = d.init(jax.random.PRNGKey(0), jnp.zeros((4, 2)), y, train=False)
    # The one-hot label widens the first layers' inputs by 8.
    assert g_vars["params"]["Dense_0"]["kernel"].shape[0] == 2 + 8
    assert d_vars["params"]["Dense_0"]["kernel"].shape[0] == 2 + 8
    x1 = g.apply(g_vars, jnp.zeros((4, 2)), y, train=False)
    x2 = g.apply(g_vars, jnp.zeros((4, 2)), (y + 1) % 8, train=False)
    assert not np.allclose(x1, x2)


def radford_counts(f, latent, channels):
    """DCGAN64's parameter counts from its layers (no biases; batch norm scale + offset)."""
    g = (latent * 16 * 8 * f + bn(16 * 8 * f) + conv(5, 8 * f, 4 * f) - 4 * f + bn(4 * f)
         + conv(5, 4 * f, 2 * f) - 2 * f + bn(2 * f) + conv(5, 2 * f, f) - f + bn(f)
         + conv(5, f, channels) - channels)
    d = (conv(5, channels, f) - f + conv(5, f, 2 * f) - 2 * f + bn(2 * f)
         + conv(5, 2 * f, 4 * f) - 4 * f + bn(4 * f) + conv(5, 4 * f, 8 * f) - 8 * f
         + bn(8 * f) + 16 * 8 * f)
    return g, d


@pytest.mark.parametrize("f,latent,channels", [(128, 100, 3), (64, 100, 3), (32, 100, 1)])
def test_dcgan64_follows_radford_et_al(f, latent, channels):
    g, d, g_vars, d_vars = _dcgan64(f, latent, channels)
    counts = (param_count(g_vars["params"]), param_count(d_vars["params"]))
    assert counts == radford_counts(f, latent, channels)
    if (f, latent, channels) == (128, 100, 3):
        # The paper's faces model: the numbers in gan_jax/models/dcgan64.py's docstring.
        print(f"DCGAN64 f=128, z=100: G {counts[0]:,} D {counts[1]:,} parameters")
        assert counts == (18_885_760, 17_232_768)
    # No layer has a bias; batch norm's scale starts near 1, the weights at N(0, 0.02).
    leaves = jax.tree_util.tree_leaves_with_path((g_vars["params"], d_vars["params"]))
    biases = [jax.tree_util.keystr(path) for path, _ in leaves
              if "bias" in jax.tree_util.keystr(path)]
    assert biases and all("BatchNorm" in path for path in biases)  # offsets only
    scale = np.asarray(g_vars["params"]["BatchNorm_0"]["scale"])
    assert abs(scale.mean() - 1.0) < 0.01 and 0.01 < scale.std() < 0.03
    kernel = np.asarray(d_vars["params"]["Conv_2"]["kernel"])
    assert abs(kernel.std() - 0.02) < 0.002
    x = g.apply(g_vars, jax.random.normal(jax.random.PRNGKey(2), (3, latent)), train=False)
    assert x.shape == (3, 64, 64, channels) and float(jnp.max(jnp.abs(x))) <= 1.0
    assert d.apply(d_vars, x, train=False).shape == (3,)


def _dcgan64(f, latent, channels):
    cfg = models.model_config("dcgan64", latent_dim=latent, f=f)
    g, d = models.build_models(cfg, Spec((64, 64, channels), (-1.0, 1.0), None))
    g_vars = g.init(jax.random.PRNGKey(0), jnp.zeros((2, latent)), train=False)
    d_vars = d.init(jax.random.PRNGKey(1), jnp.zeros((2, 64, 64, channels)), train=False)
    return g, d, g_vars, d_vars


def test_dcgan64_refuses_other_resolutions_in_one_line():
    cfg = models.model_config("dcgan64")
    with pytest.raises(ValueError, match=r"'dcgan64' needs 64x64 images with 1 or 3 channels, "
                                         r"got data shape \(32, 32, 3\) \(set "
                                         r"config.data.resolution=64\)"):
        models.check_model(cfg, Spec((32, 32, 3), (-1.0, 1.0), None))
