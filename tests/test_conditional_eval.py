"""Evaluation of conditional models: per-class grids, intra-class FD, class accuracy."""

from __future__ import annotations

import types

import matplotlib.image
import ml_collections
import numpy as np
import pytest

from gan_jax import data, plotting, sampling
from gan_jax.eval import image_eval, inception


def _features(rng, n, d=4):
    return rng.normal(size=(n, d))


def test_intra_class_fd_of_identical_classes_is_zero_and_a_shift_gives_its_square():
    rng = np.random.default_rng(0)
    real = _features(rng, 300)
    labels = np.arange(300) % 3
    np.testing.assert_allclose(
        image_eval.intra_class_frechet_distance(real, labels, real, labels), 0.0, atol=1e-9)
    # Shifting class c by v_c moves only its mean: FD_c = |v_c|^2, covariances equal.
    shifts = np.array([[1.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 0, 0]])
    fake = real + shifts[labels]
    np.testing.assert_allclose(
        image_eval.intra_class_frechet_distance(real, labels, fake, labels),
        (1.0 + 4.0 + 0.0) / 3, rtol=1e-9)
    # A G that draws the wrong classes: the pooled FD is 0, the intra-class one is not.
    swapped = (labels + 1) % 3
    centred = real + 5.0 * np.eye(4)[labels]
    from gan_jax.eval import metrics

    assert metrics.frechet_distance(centred, centred) < 1e-6
    assert image_eval.intra_class_frechet_distance(centred, labels, centred, swapped) > 20


def test_intra_class_fd_needs_two_examples_of_each_class():
    rng = np.random.default_rng(1)
    real, fake = _features(rng, 20), _features(rng, 5)
    with pytest.raises(ValueError, match="class 4 has 0 real and 1 generated examples"):
        image_eval.intra_class_frechet_distance(real, np.arange(20) % 2, fake,
                                                np.array([0, 0, 1, 1, 4]))


def test_class_rows_put_one_class_per_row_in_class_order():
    labels = np.arange(64) % 10          # sampling.fixed_labels(64, 10)
    order, ncols = plotting.class_rows(labels, 10)
    assert ncols == 6 and order.shape == (60,)
    rows = np.arange(10)[:, None]
    np.testing.assert_array_equal(labels[order].reshape(10, 6), np.repeat(rows, 6, 1))
    # Each row keeps the samples' own order: class 3 is samples 3, 13, ..., 53.
    np.testing.assert_array_equal(order.reshape(10, 6)[3], [3, 13, 23, 33, 43, 53])
    # More classes than rows: the first 10 classes; max_images caps the columns.
    order, ncols = plotting.class_rows(np.arange(200) % 25, 25, max_images=50)
    assert ncols == 5
    np.testing.assert_array_equal((np.arange(200) % 25)[order].reshape(10, 5),
                                  np.repeat(rows, 5, 1))
    with pytest.raises(ValueError, match="needs a sample of each of classes 0..9"):
        plotting.class_rows(np.arange(5), 10)


def test_a_conditional_grid_png_has_one_class_per_row(tmp_path):
    """Each image is filled with its class's gray level; the PNG's rows read back in order."""
    n, k = 40, 4
    labels = np.asarray(sampling.fixed_labels(n, k))
    levels = np.linspace(-1, 1, k)
    images = np.broadcast_to(levels[labels][:, None, None, None], (n, 6, 6, 1))
    source = types.SimpleNamespace(spec=data.Spec((6, 6, 1), (-1.0, 1.0), k))
    path = str(tmp_path / "grid.png")
    plotting.save_samples(images, source, path, labels=labels)
    grid = matplotlib.image.imread(path)[..., 0]
    scale = grid.shape[1] // (10 * 8 + 2)     # 10 columns of 6 pixels + 2 of padding
    assert grid.shape[0] == scale * (k * 8 + 2)
    for row in range(k):
        centre = scale * (2 + row * 8 + 3)
        cells = grid[centre, scale * 5::scale * 8][:10]
        np.testing.assert_allclose(cells, (levels[row] + 1) / 2, atol=1 / 255)
    # Without labels (an unconditional model) the grid keeps the samples' order.
    plain = str(tmp_path / "plain.png")
    plotting.save_samples(images, source, plain)
    assert matplotlib.image.imread(plain).shape[0] != grid.shape[0]


def test_only_conditional_models_group_their_grids_by_class():
    config = ml_collections.ConfigDict({"model": {"conditioning": "acgan"}})
    y = sampling.fixed_labels(8, 4)
    np.testing.assert_array_equal(sampling.grid_labels(config, y), [0, 1, 2, 3] * 2)
    config.model.conditioning = "none"
    assert sampling.grid_labels(config, y) is None
    assert sampling.grid_labels(config, None) is None


@pytest.fixture
def digits_data(digits_dir):
    from conftest import make_image_config

    return make_image_config(digits_dir).data


def test_lenet_evaluation_of_the_real_sample_with_its_labels(digits_data):
    """The reference images, scored with their own labels: intra-class FD-LeNet 0 and the
    LeNet's accuracy on them; labels are saved with the reference."""
    ev = image_eval.ImageEvaluator(digits_data, 300, log=lambda *_: None)
    with np.load(ev.reference_path) as cached:
        np.testing.assert_array_equal(cached["labels"], ev.real_labels)
    assert ev.real_labels.shape == (300,)
    scores = ev.score_features(None, ev.real_features, labels=ev.real_labels)
    # 0 up to the square root's rounding (30 digits per class in the LeNet's feature space).
    assert abs(scores["intra_fd_lenet"]) < 1e-6 * np.trace(ev.real_sigma)
    assert "class_accuracy" not in scores
    # Generated for the wrong class: the intra-class FD grows, the pooled FD stays 0.
    wrong = ev.score_features(None, ev.real_features, labels=(ev.real_labels + 1) % 10)
    assert wrong["intra_fd_lenet"] > 0.1 * np.trace(ev.real_sigma)
    assert abs(wrong["fd_lenet"]) < 1e-6 * np.trace(ev.real_sigma)
    # Class accuracy is the LeNet's argmax agreeing with the requested labels.
    fake_logits = np.eye(10)[ev.real_labels] * 5.0
    fake_logits[:30] = np.eye(10)[(ev.real_labels[:30] + 1) % 10] * 5.0
    scored = ev.score_features(fake_logits, ev.real_features, labels=ev.real_labels)
    assert scored["class_accuracy"] == pytest.approx(0.9)
    assert set(image_eval.CONDITIONAL_METRICS) & set(image_eval.METRIC_NAMES) == set()


def test_a_reference_cached_without_labels_reads_them_from_the_split(digits_data):
    ev = image_eval.ImageEvaluator(digits_data, 300, log=lambda *_: None)
    expected = ev.real_labels.copy()
    with np.load(ev.reference_path) as cached:
        old = {k: cached[k] for k in cached.files if k != "labels"}
    np.savez(ev.reference_path, **old)
    again = image_eval.ImageEvaluator(digits_data, 300, log=lambda *_: None)
    assert not again.computed_reference and again._real_labels is None
    np.testing.assert_array_equal(again.real_labels, expected)


def test_inception_evaluation_has_intra_fid_and_says_once_that_it_has_no_class_accuracy(
        digits_data, monkeypatch, tmp_path):
    """The Inception path's logic on a stand-in network (features: the flattened pixels)."""
    net = types.SimpleNamespace(id="inception-standin", has_logits=False, info={})
    monkeypatch.setattr(inception, "read", lambda _: net)
    monkeypatch.setattr(image_eval.ImageEvaluator, "_real_features",
                        lambda self, images: images.reshape(len(images), -1)[:, :8])
    lines = []
    ev = image_eval.ImageEvaluator(digits_data, 200, features="inception",
                                   inception_dir=tmp_path, log=lines.append)
    assert "intra_fid" in ev.metric_names
    labels = ev.real_labels
    for _ in range(2):
        scores = ev.score_features(None, ev.real_features, labels=labels)
    assert abs(scores["intra_fid"]) < 1e-6 * np.trace(ev.real_sigma)
    assert "class_accuracy" not in scores
    said = [line for line in lines if "class accuracy unavailable" in line]
    assert len(said) == 1 and "ImageNet classes" in said[0]
    # Unconditional scoring reports neither.
    assert not set(ev.score_features(None, ev.real_features)) & set(
        image_eval.CONDITIONAL_METRICS)
