"""DiffAugment (Zhao et al. 2020): each operation against its definition, differentiability,
device-count independence and a short training run with a penalty."""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import augment, configs, state as state_lib, steps
from gan_jax.errors import ConfigError


def _image(seed=0, shape=(16, 16, 3)):
    return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32))


def test_shift_moves_pixels_and_fills_the_border_with_zeros():
    x = _image()
    y = np.asarray(augment.shift(x, jnp.asarray(2), jnp.asarray(-1), 2))
    np.testing.assert_array_equal(y[2:, :-1], np.asarray(x)[:-2, 1:])
    assert not y[:2].any() and not y[:, -1:].any()


def test_translation_draws_shifts_within_an_eighth_of_the_side():
    x = jnp.ones((16, 16, 1))
    seen = set()
    for i in range(200):
        y = np.asarray(augment.translation(x, jax.random.PRNGKey(i)))[..., 0]
        rows, cols = np.flatnonzero(y.any(1)), np.flatnonzero(y.any(0))
        dy = rows[0] if rows[0] > 0 else rows[-1] - 15
        dx = cols[0] if cols[0] > 0 else cols[-1] - 15
        seen.add((int(dy), int(dx)))
    assert {d for pair in seen for d in pair} == set(range(-2, 3))    # s = round(16 / 8)


def test_cutout_zeroes_one_square_of_half_the_side():
    x = jnp.ones((16, 16, 3))
    mask = np.asarray(augment.cutout_mask(x.shape, jnp.asarray(8), jnp.asarray(8)))[..., 0]
    assert mask.sum() == 256 - 64 and not mask[4:12, 4:12].any()
    corner = np.asarray(augment.cutout_mask(x.shape, jnp.asarray(0), jnp.asarray(0)))[..., 0]
    assert (corner == 0).sum() == 16 and not corner[:4, :4].any()    # clipped at the border
    for i in range(50):
        y = np.asarray(augment.cutout(x, jax.random.PRNGKey(i)))
        assert 0 < (y == 0).sum() // 3 <= 64


def test_color_follows_brightness_saturation_and_contrast():
    x = _image(1)
    key = jax.random.PRNGKey(3)
    kb, ks, kc = jax.random.split(key, 3)
    b = float(jax.random.uniform(kb, ()) - 0.5)
    s = float(jax.random.uniform(ks, ()) * 2)
    c = float(jax.random.uniform(kc, ()) + 0.5)
    ref = np.asarray(x, np.float64) + b
    ref = (ref - ref.mean(-1, keepdims=True)) * s + ref.mean(-1, keepdims=True)
    ref = (ref - ref.mean()) * c + ref.mean()
    np.testing.assert_allclose(np.asarray(augment.color(x, key)), ref, rtol=1e-5, atol=1e-5)


def test_the_policy_is_differentiable_and_keyed():
    x = _image(2)
    policy = ("color", "translation", "cutout")
    grad = jax.grad(lambda v: jnp.sum(augment.augment(v, jax.random.PRNGKey(0), policy) ** 2))(x)
    assert np.all(np.isfinite(grad)) and np.abs(grad).sum() > 0
    a = augment.augment(x, jax.random.PRNGKey(1), policy)
    np.testing.assert_array_equal(a, augment.augment(x, jax.random.PRNGKey(1), policy))
    assert not np.allclose(a, augment.augment(x, jax.random.PRNGKey(2), policy))
    with pytest.raises(ValueError, match="unknown augmentation 'flip'.*allowed: color"):
        augment.parse_policy("color, flip")


def test_config_checks(toy_config, image_config):
    with pytest.raises(ConfigError, match="augments images; config.data.name='ring8'"):
        configs.validate(toy_config(fields={"diffaugment": "color"}), num_devices=1)
    with pytest.raises(ConfigError, match="unknown augmentation 'hue'"):
        configs.validate(image_config(fields={"diffaugment": "hue"}), num_devices=1)


def test_d_sees_augmented_real_and_fake_images_and_g_gets_gradients(image_config):
    from jax.sharding import PartitionSpec as P

    config = image_config(fields={"diffaugment": "color,translation,cutout"})
    spec = configs.validate(config, num_devices=1).spec
    gan = state_lib.make_gan(config, spec)
    plain = gan.replace(augment=())
    state = state_lib.init_state(gan, 0)
    x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (8, *spec.shape)), jnp.float32)
    key = jax.random.PRNGKey(0)
    z = jax.random.normal(key, (8, gan.latent_dim))
    y = jnp.zeros((8,), jnp.int32)

    def on_one_device(state, x):
        # The step's per-example keys come from the global example index of the data axis.
        seen = {name: steps._d_input(g, x, key, state.step, which)
                for name, g, which in (("real", gan, "real"), ("fake", gan, "fake"),
                                       ("plain", plain, "real"))}
        grads = jax.grad(lambda p: steps.g_loss_fn(gan, state, p, z, y, None, None, key)[0])(
            state.g_params)
        return seen, grads

    mesh = steps.make_mesh(jax.devices()[:1])
    seen, grads = jax.jit(jax.shard_map(on_one_device, mesh=mesh, in_specs=(P(), P()),
                                        out_specs=P(), check_vma=False))(state, x)
    assert not np.allclose(seen["real"], x)
    np.testing.assert_array_equal(seen["plain"], x)
    # Real and generated images get independent draws.
    assert not np.allclose(seen["real"], seen["fake"])
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
    assert sum(float(jnp.abs(g).sum()) for g in jax.tree.leaves(grads)) > 0


def test_a_run_with_diffaugment_and_r1_trains(image_config, tmp_path):
    from gan_jax.train import train_and_evaluate

    config = image_config(steps=4, fields={"diffaugment": "color,translation,cutout",
                                           "regularizers": {"r1": 1.0}})
    workdir = str(tmp_path / "run")
    train_and_evaluate(config, workdir)
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    values = [r[k] for r in rows for k in ("d_loss", "g_loss", "penalty") if k in r]
    assert len(values) >= 3 and np.all(np.isfinite(values))
