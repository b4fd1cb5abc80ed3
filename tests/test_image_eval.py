"""Tests for gan_jax/eval/image_eval.py on real mnist5k digits with the shipped network.

The reference is 2,000 of mnist5k's 5,000 digits (the key's fixed sample); the
other 3,000 are real images the reference never saw. A sanity ladder scores
1,000 of them as they are, blurred, noisy and with classes dropped: the real
ones must score best, each damaged set measurably worse on FD and KID, and the
class-dropped one lower on recall and coverage.

The prepared mnist5k and its reference statistics are made once per test
session, shared by the xdist workers (under a file lock), so the dataset is
built once however the tests are distributed.
"""

from __future__ import annotations

import fcntl

import ml_collections
import numpy as np
import pytest
import scipy.ndimage

from gan_jax.eval import image_eval, real_data

NUM_REF = 2000
LADDER_SIZE = 1000


def _config(name="mnist5k", data_dir=None, split="train"):
    return ml_collections.ConfigDict({"name": name, "data_dir": data_dir, "split": split})


@pytest.fixture(scope="session")
def prepared_dir(tmp_path_factory, worker_id) -> str:
    """A data dir with mnist5k and the n=2000 reference, shared by all workers."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if worker_id != "master" else base
    data_dir = str(root / "image_eval_tfds")
    with open(root / "image_eval_tfds.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        image_eval.ImageEvaluator(_config(data_dir=data_dir), NUM_REF, log=lambda _: None)
    return data_dir


@pytest.fixture(scope="module")
def mnist5k(prepared_dir):
    data_dir = prepared_dir
    evaluator = image_eval.ImageEvaluator(_config(data_dir=data_dir), NUM_REF, kid_subsets=20)
    images, labels = real_data.load_split("mnist5k", data_dir, "train")
    unseen = np.setdiff1d(np.arange(images.shape[0]),
                          image_eval.reference_indices(images.shape[0], NUM_REF))
    rng = np.random.default_rng(0)
    pick = rng.choice(unseen, LADDER_SIZE, replace=False)
    real = real_data.scale(images[pick])
    low = unseen[labels[unseen] < 5]   # classes 5-9 dropped
    ladder = {
        "real": real,
        "blurred": scipy.ndimage.gaussian_filter(real, sigma=(0, 1.0, 1.0, 0)),
        "noisy": np.clip(real + rng.normal(scale=0.4, size=real.shape), -1, 1),
        "dropped": real_data.scale(images[rng.choice(low, LADDER_SIZE, replace=False)]),
    }
    scores = {name: evaluator(x.astype(np.float32)) for name, x in ladder.items()}
    return data_dir, evaluator, scores


def test_metrics_are_the_documented_floats(mnist5k):
    _, evaluator, scores = mnist5k
    for values in scores.values():
        assert tuple(values) == image_eval.METRIC_NAMES
        assert all(type(v) is float and np.isfinite(v) for v in values.values())
    net_id = evaluator.net.id
    assert net_id.startswith("lenet-mnist5k-") and len(net_id) == len("lenet-mnist5k-") + 8
    assert evaluator.reference_key == f"mnist5k/train/{net_id}/n{NUM_REF}"


def test_real_unseen_digits_score_best(mnist5k):
    _, _, scores = mnist5k
    real = scores["real"]
    # Coverage of 2,000 real balls by 1,000 samples stays below 1 even for real data.
    assert real["precision"] > 0.9 and real["recall"] > 0.9 and real["coverage"] > 0.8
    assert real["classifier_score"] > 8.5     # confident on ten balanced classes
    for damaged in ("blurred", "noisy", "dropped"):
        worse = scores[damaged]
        assert worse["fd_lenet"] > 3 * real["fd_lenet"] + 1.0, damaged
        assert worse["kid"] > real["kid"] + 3 * (worse["kid_std"] + real["kid_std"]), damaged


def test_dropping_classes_lowers_recall_coverage_and_classifier_score(mnist5k):
    _, _, scores = mnist5k
    real, dropped = scores["real"], scores["dropped"]
    assert dropped["recall"] < real["recall"] - 0.25
    assert dropped["coverage"] < real["coverage"] - 0.25
    # Half the classes: the score's ceiling drops from 10 to about 5.
    assert dropped["classifier_score"] < 5.5 < real["classifier_score"]


def test_reference_is_cached_under_its_key(mnist5k):
    data_dir, evaluator, _ = mnist5k
    assert evaluator.reference_path == (image_eval.reference_root(data_dir) / "mnist5k" / "train"
                                        / evaluator.net.id / f"n{NUM_REF}.npz")
    n = NUM_REF - 1   # a key no other test uses
    first = image_eval.ImageEvaluator(_config(data_dir=data_dir), n)
    assert first.computed_reference and first.reference_path.name == f"n{n}.npz"
    np.testing.assert_array_equal(
        np.load(first.reference_path)["indices"], image_eval.reference_indices(5000, n))
    stamp = first.reference_path.stat().st_mtime_ns
    second = image_eval.ImageEvaluator(_config(data_dir=data_dir), n)
    assert not second.computed_reference
    assert second.reference_key == first.reference_key
    np.testing.assert_array_equal(second.real_features, first.real_features)
    assert first.reference_path.stat().st_mtime_ns == stamp
    # A damaged cache file is recomputed, saying so, with the same features.
    first.reference_path.write_bytes(b"not an npz")
    lines = []
    third = image_eval.ImageEvaluator(_config(data_dir=data_dir), n, log=lines.append)
    assert third.computed_reference and "cannot be read" in lines[0]
    np.testing.assert_allclose(third.real_features, first.real_features, rtol=1e-6)
    with pytest.raises(ValueError) as excinfo:
        image_eval.ImageEvaluator(_config(data_dir=data_dir), 6000)
    assert "exceeds the 5000 images of mnist5k:train" in _one_line(excinfo)


def test_evaluate_images_returns_metrics_and_key(mnist5k):
    data_dir, evaluator, _ = mnist5k
    x = np.random.default_rng(3).uniform(-1, 1, size=(50, 28, 28, 1)).astype(np.float32)
    values, key = image_eval.evaluate_images(_config(data_dir=data_dir), x, NUM_REF)
    assert key == evaluator.reference_key and tuple(values) == image_eval.METRIC_NAMES


def _one_line(excinfo) -> str:
    assert "\n" not in str(excinfo.value)
    return str(excinfo.value)


@pytest.mark.parametrize("name, expected", [
    ("cifar10", "no feature network for dataset 'cifar10'"),
    ("ring8", "dataset 'ring8' has no LeNet feature network"),
    ("folder", "dataset 'folder' has no LeNet feature network"),
])
def test_unsupported_dataset_is_refused_before_any_compute(name, expected, tmp_path):
    with pytest.raises(ValueError) as excinfo:
        image_eval.ImageEvaluator(_config(name, str(tmp_path)), 100)
    assert expected in _one_line(excinfo)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("images, expected", [
    (np.zeros((10, 32, 32, 3), np.float32), "images must have shape [N, 28, 28, 1]"),
    (np.zeros((10, 28, 28), np.float32), "images must have shape [N, 28, 28, 1]"),
    (np.zeros((3, 28, 28, 1), np.float32), "need at least 6 images"),
    (np.zeros((10, 28, 28, 1), np.uint8), "dtype uint8"),
    (np.full((10, 28, 28, 1), 255.0, np.float32), "must lie in [-1, 1]"),
    (np.full((10, 28, 28, 1), np.nan, np.float32), "NaN"),
])
def test_bad_images_are_refused_in_one_line(images, expected):
    with pytest.raises(ValueError) as excinfo:
        image_eval.check_images(images, "mnist5k", (28, 28, 1))
    assert expected in _one_line(excinfo)


def test_bad_sample_counts_are_refused(tmp_path):
    for bad in (2, 5.0, True):
        with pytest.raises(ValueError) as excinfo:
            image_eval.ImageEvaluator(_config(data_dir=str(tmp_path)), bad)
        assert "num_samples must be an integer >= 6" in _one_line(excinfo)
    assert not any(tmp_path.iterdir())
