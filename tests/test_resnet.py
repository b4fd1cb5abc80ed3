"""The SNGAN ResNet (registry ``resnet``): parameter counts against the reference, shapes,
output range, spectral norm, conditioning, errors, losses, the 4-device step and configs.

Reference: the Mimicry library (kwotsin/mimicry, commit
a7fda06c4aff1e6af8dc4c4a35ed6636e434c766), ``torch_mimicry/nets/sngan/sngan_32.py``,
``sngan_48.py``, ``sngan_64.py`` and ``torch_mimicry/nets/cgan_pd/cgan_pd_32.py`` (which
follow the authors' Chainer code, pfnet-research/sngan_projection), instantiated with their
defaults (nz 128; ngf/ndf 256/128 at 32, 512/1024 at 48, 1024/1024 at 64; 10 classes for
cGAN-PD) and counted as ``sum(p.numel() for p in m.parameters() if p.requires_grad)``.
That counts trainable parameters: weights (spectral norm's ``weight_orig``), biases,
batch-norm and conditional batch-norm gains and biases, the projection embedding. It leaves
out buffers: batch norm's running statistics and spectral norm's ``u`` and ``sigma``, which
gan_jax keeps in the ``batch_stats`` collection. Here: the leaves of ``params``.
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import data, models
from gan_jax.configs import base_config
from gan_jax.models import model_config, resnet

HERE = os.path.dirname(__file__)

# (side, conditioning, classes) -> (G, D) trainable parameters of the Mimicry reference.
REFERENCE_COUNTS = {
    (32, "none", 0): (4_276_739, 1_053_825),            # SNGANGenerator32 / Discriminator32
    (48, "none", 0): (4_878_083, 10_141_441),           # SNGANGenerator48 / Discriminator48
    (64, "none", 0): (12_220_675, 10_141_441),          # SNGANGenerator64 / Discriminator64
    (32, "cbn+projection", 10): (4_304_387, 1_055_105),  # CGANPDGenerator32 / Discriminator32
}


def _spec(side, classes=10):
    return data.Spec((side, side, 3), (-1.0, 1.0), classes or None)


def _pair(side=32, classes=10, **fields):
    return models.build_models(model_config("resnet", **fields), _spec(side, classes))


def _count(tree):
    return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(tree))


@pytest.mark.parametrize("key", list(REFERENCE_COUNTS), ids=str)
def test_parameter_counts_equal_the_reference(key):
    side, conditioning, classes = key
    g_ch, d_ch = resnet.RESNET_WIDTHS[side]
    g, d = _pair(side, classes, g_ch=g_ch, d_ch=d_ch, conditioning=conditioning)
    z, y = jnp.zeros((2, 128)), jnp.zeros((2,), jnp.int32)
    x = jnp.zeros((2, side, side, 3))
    # Shapes only: nothing of the full-width networks is computed.
    gv = jax.eval_shape(lambda: g.init(jax.random.PRNGKey(0), z, y, train=False))
    dv = jax.eval_shape(lambda: d.init(jax.random.PRNGKey(0), x, y, train=False))
    assert (_count(gv["params"]), _count(dv["params"])) == REFERENCE_COUNTS[key]


@pytest.mark.parametrize("side", [32, 48, 64])
def test_shapes(side):
    g, d = _pair(side, g_ch=16, d_ch=16, conditioning="cbn+projection")
    z, y = jnp.zeros((3, 128)), jnp.array([0, 4, 9])
    gv = jax.eval_shape(lambda: g.init(jax.random.PRNGKey(0), z, y, train=False))
    x = jax.eval_shape(lambda v: g.apply(v, z, y, train=False), gv)
    assert x.shape == (3, side, side, 3) and x.dtype == jnp.float32
    dv = jax.eval_shape(lambda x: d.init(jax.random.PRNGKey(0), x, y, train=False), x)
    scores = jax.eval_shape(lambda v, x: d.apply(v, x, y, train=False), dv, x)
    assert scores.shape == (3,) and scores.dtype == jnp.float32


def test_output_range():
    g, d = _pair(32, g_ch=16, d_ch=16, conditioning="cbn+projection")
    z = 3.0 * jax.random.normal(jax.random.PRNGKey(1), (3, 128))
    y = jnp.array([0, 4, 9])

    @jax.jit
    def run(z, y):
        gv = g.init(jax.random.PRNGKey(0), z, y, train=False)
        x, _ = g.apply(gv, z, y, train=True, mutable=["batch_stats"])
        dv = d.init(jax.random.PRNGKey(0), x, y, train=False)
        return x, d.apply(dv, x, y, train=False)

    x, scores = run(z, y)
    assert float(jnp.max(jnp.abs(x))) <= 1.0 and float(jnp.std(x)) > 1e-3
    assert np.all(np.isfinite(scores))


def test_spectral_norm_divides_every_d_kernel_by_its_top_singular_value():
    _, d = _pair(32, g_ch=16, d_ch=16, conditioning="cbn+projection")
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 32, 32, 3))
    y = jnp.array([1, 2])
    v = d.init(jax.random.PRNGKey(0), x, y, train=False)

    def update(_, s):  # one power iteration per call in train mode
        return d.apply({"params": v["params"], "batch_stats": s}, x, y, train=True,
                       mutable=["batch_stats"])[1]["batch_stats"]

    stats = jax.jit(lambda s: jax.lax.fori_loop(0, 200, update, s))(v["batch_stats"])
    params = {tuple(p.key for p in k): a for k, a in
              jax.tree_util.tree_leaves_with_path(v["params"]) if a.ndim > 1}
    # ('DBlock_0', 'SpectralNorm_1', 'conv2/kernel/sigma') -> ('DBlock_0', 'conv2', 'kernel')
    sigmas = {(*path[:-2], *path[-1].split("/")[:2]): float(a) for path, a in
              ((tuple(p.key for p in k), a) for k, a in jax.tree_util.tree_leaves_with_path(stats))
              if path[-1].endswith("/sigma")}
    # Every conv, the linear layer and the projection embedding: 3 + 3 + 2 + 2 + 1 + 1.
    assert sorted(params) == sorted(sigmas) and len(params) == 12
    for key, w in params.items():
        matrix = np.asarray(w).reshape(-1, w.shape[-1])
        top = np.linalg.svd(matrix, compute_uv=False)[0]
        np.testing.assert_allclose(sigmas[key], top, rtol=1e-3, err_msg=str(key))
        top1 = np.linalg.svd(matrix / sigmas[key], compute_uv=False)[0]
        assert abs(top1 - 1.0) < 1e-3, (key, top1)


def test_conditional_batch_norm_starts_at_gain_one_and_the_labels_reach_both_players():
    g, d = _pair(32, g_ch=16, d_ch=16, conditioning="cbn+projection")
    z = jax.random.normal(jax.random.PRNGKey(1), (4, 128))
    y0, y1 = jnp.zeros(4, jnp.int32), jnp.ones(4, jnp.int32)
    gv = g.init(jax.random.PRNGKey(0), z, y0, train=False)
    gains = [a for k, a in jax.tree_util.tree_leaves_with_path(gv["params"])
             if "gain" in jax.tree_util.keystr(k)]
    biases = [a for k, a in jax.tree_util.tree_leaves_with_path(gv["params"])
              if "norm" in jax.tree_util.keystr(k) and "bias" in jax.tree_util.keystr(k)]
    assert len(gains) == len(biases) == 6  # two per block
    assert all(np.all(np.asarray(a) == 1.0) for a in gains)
    assert all(np.all(np.asarray(a) == 0.0) for a in biases)
    # Untrained, every class has the same gain: G starts unconditional ...
    np.testing.assert_array_equal(g.apply(gv, z, y0, train=False),
                                  g.apply(gv, z, y1, train=False))
    # ... and one class's own gain changes only that class's samples.
    moved = jax.tree_util.tree_map_with_path(
        lambda p, a: a.at[1].add(0.5) if "gain" in jax.tree_util.keystr(p) else a, gv)
    np.testing.assert_array_equal(g.apply(moved, z, y0, train=False),
                                  g.apply(gv, z, y0, train=False))
    assert not np.allclose(g.apply(moved, z, y1, train=False), g.apply(gv, z, y1, train=False))
    x = g.apply(gv, z, y0, train=False)
    dv = d.init(jax.random.PRNGKey(0), x, y0, train=False)
    assert not np.allclose(d.apply(dv, x, y0, train=False), d.apply(dv, x, y1, train=False))
    with pytest.raises(ValueError, match="a conditional model needs labels y"):
        g.apply(gv, z, None, train=False)


def test_unconditional_players_ignore_the_label():
    g, d = _pair(32, g_ch=16, d_ch=16)
    z = jax.random.normal(jax.random.PRNGKey(1), (2, 128))
    gv = g.init(jax.random.PRNGKey(0), z, None, train=False)
    x = g.apply(gv, z, None, train=False)
    np.testing.assert_array_equal(x, g.apply(gv, z, jnp.array([3, 7]), train=False))
    dv = d.init(jax.random.PRNGKey(0), x, None, train=False)
    np.testing.assert_array_equal(d.apply(dv, x, None, train=False),
                                  d.apply(dv, x, jnp.array([3, 7]), train=False))


@pytest.mark.parametrize("shape,fields,message", [
    ((28, 28, 1), {}, "config.model.name='resnet' needs square images of side 32, 48, 64, "
                      "got data shape (28, 28, 1)"),
    ((32, 32, 3), {"conditioning": "concat"},
     "unknown conditioning 'concat' (config.model.conditioning) for model 'resnet'; allowed: "
     "none, cbn+projection"),
    ((32, 32, 3), {"g_ch": 24}, "config.model.g_ch=24 must be a multiple of 16"),
])
def test_errors_are_one_line(shape, fields, message):
    with pytest.raises(ValueError) as info:
        models.build_models(model_config("resnet", **fields), data.Spec(shape, (-1, 1), 10))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_conditioning_needs_labels():
    with pytest.raises(ValueError, match="needs labelled data"):
        models.build_models(model_config("resnet", conditioning="cbn+projection"),
                            data.Spec((32, 32, 3), (-1, 1), None))


def _steps(config, spec, n):
    """``n`` train steps of ``config`` on one device on fixed random labelled batches."""
    from gan_jax import state as state_lib, steps

    mesh = steps.make_mesh(jax.devices()[:1])
    gan = state_lib.make_gan(config, spec)
    step = steps.parallelize(gan, mesh, config.batch_size, None)
    state = jax.device_put(state_lib.init_state(gan, 0), steps.replicated(mesh))
    rng = np.random.default_rng(0)
    start = jax.device_get(state.d_params)
    for _ in range(n):
        batch = {"image": rng.uniform(-1, 1, (config.n_disc, config.batch_size, *spec.shape))
                 .astype(np.float32),
                 "label": rng.integers(0, 10, (config.n_disc, config.batch_size))
                 .astype(np.int32)}
        state, metrics = step(state, jax.device_put(batch, steps.batch_sharding(mesh)))
    return start, jax.device_get(state), jax.device_get(metrics)


# The hinge loss: test_cifar10_sngan_config_trains_two_steps_on_mock_data.
@pytest.mark.parametrize("loss,penalty", [("nonsaturating", "none"), ("wasserstein", "gp")])
def test_a_tiny_conditional_resnet_trains_with_each_loss(loss, penalty):
    c = base_config()
    c.data.name = "images"
    c.batch_size, c.n_disc, c.loss, c.penalty = 4, 1, loss, penalty
    c.model = model_config("resnet", latent_dim=16, g_ch=16, d_ch=16,
                           conditioning="cbn+projection")
    start, state, metrics = _steps(c, _spec(32), 2)
    values = [float(v) for v in jax.tree.leaves(metrics)]
    assert values and np.all(np.isfinite(values))
    moved = max(float(np.max(np.abs(a - b))) for a, b in
                zip(jax.tree.leaves(state.d_params), jax.tree.leaves(start), strict=True))
    assert moved > 0


def test_upsample_and_pool_are_the_nearest_and_mean_maps():
    x = jnp.arange(2 * 2 * 2 * 3, dtype=jnp.float32).reshape(2, 2, 2, 3)
    up = resnet.upsample(x)
    np.testing.assert_array_equal(up, jnp.repeat(jnp.repeat(x, 2, 1), 2, 2))
    np.testing.assert_allclose(resnet.avg_pool(up), x)


def _tiny_run(config, workdir, batch=4, **fields):
    """``config`` shrunk to a 2-step CPU run (4 samples per grid, no evaluation)."""
    from gan_jax.train import train_and_evaluate

    for key, value in fields.items():
        config.model[key] = value
    config.batch_size, config.num_steps = batch, 2
    config.log_every = config.sample_every = config.checkpoint_every = 1
    config.eval_every, config.num_samples, config.progress_bar = 0, 4, False
    config.best_metric = "none"
    train_and_evaluate(config, str(workdir))
    from gan_jax import metric_writer

    rows = [r for r in metric_writer.read_metrics(str(workdir)) if "d_loss" in r]
    assert rows and all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]) for r in rows)
    assert os.path.exists(workdir / "samples" / "step_0000002.png")


def test_cifar10_sngan_config_trains_two_steps_on_mock_data(tmp_path):
    import tensorflow_datasets as tfds

    from gan_jax import runs

    config = runs.load_config(os.path.join(HERE, "..", "experiments", "configs",
                                           "cifar10_sngan.py"))
    assert (config.loss, config.n_disc, config.optim.g.b1, config.optim.d.b2,
            config.optim.g.schedule) == ("hinge", 5, 0.0, 0.9, "linear")
    assert config.model.g_ch == 256 and config.model.d_ch == 128
    with tfds.testing.mock_data(num_examples=24):  # n_disc x batch = 20 per step
        _tiny_run(config, tmp_path / "run", g_ch=16, d_ch=16)


def test_emoji_sngan_config_trains_two_steps_on_a_small_emoji_package(tmp_path, monkeypatch):
    import hashlib

    from test_emoji import FAKE_INDEX, _fake_tarball

    from gan_jax import runs
    from gan_jax.data import emoji

    tarball = _fake_tarball(tmp_path / "given" / emoji.TARBALL)
    monkeypatch.setattr(emoji, "TARBALL_SHA256", hashlib.sha256(tarball.read_bytes()).hexdigest())
    monkeypatch.setattr(emoji, "INDEX_SHA256",
                        hashlib.sha256(json.dumps(FAKE_INDEX).encode()).hexdigest())
    config = runs.load_config(os.path.join(HERE, "..", "experiments", "configs",
                                           "emoji_sngan.py"))
    emoji.prepare(str(tmp_path / "tfds"), config.data.resolution, source=str(tarball),
                  fetch=False, log=lambda line: None, workers=1)
    config.data.data_dir = str(tmp_path / "tfds")
    assert config.data.name == "emoji" and config.eval_features == "inception"
    # 6 images: n_disc (2) x batch (2) per step.
    _tiny_run(config, tmp_path / "run", batch=2, g_ch=16, d_ch=16)
