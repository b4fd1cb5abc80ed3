"""Real images of the datasets that have a feature network, as NumPy arrays.

Reads whole TFDS splits (``load_split``: uint8 ``[N, H, W, 1]`` images, int64
labels, in TFDS's order), scales them to [-1, 1] exactly as the input pipeline
does, and fixes the held-out part of the train-only sets (``holdout_mask``).
mnist5k and digits are prepared on first use from their installed Python
packages; mnist and fashion_mnist must have been prepared with
``gan-jax data prepare NAME``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gan_jax.errors import DataError

HOLDOUT_FRACTION = 0.1


def data_root(data_dir: str | None) -> Path:
    """The TFDS data dir: ``data_dir``, else TFDS's default ($TFDS_DATA_DIR or
    ``~/tensorflow_datasets``)."""
    if data_dir:
        return Path(data_dir)
    return Path(os.environ.get("TFDS_DATA_DIR") or Path.home() / "tensorflow_datasets")


def scale(images_uint8: np.ndarray) -> np.ndarray:
    """uint8 images to float32 in [-1, 1], exactly as the input pipeline scales them."""
    return images_uint8.astype(np.float32) / 127.5 - 1.0


def holdout_mask(labels: np.ndarray, fraction: float = HOLDOUT_FRACTION,
                 seed: int = 0) -> np.ndarray:
    """Boolean mask of the held-out examples: ``round(fraction * n_c)`` of each class c.

    Drawn with ``numpy.random.default_rng(seed)``, class by class in label order,
    so the split is a fixed function of the labels.
    """
    rng = np.random.default_rng(seed)
    mask = np.zeros(labels.shape[0], dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        mask[rng.choice(idx, int(round(fraction * idx.size)), replace=False)] = True
    return mask


def _prepared_builder(name: str, data_dir: str | None):
    """The TFDS builder of ``name``, prepared (mnist5k and digits are built on first use)."""
    import tensorflow_datasets as tfds

    from gan_jax.data import prepare

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared():
        if name not in prepare.BUILT_WITHOUT_FETCH:
            where = data_dir or "~/tensorflow_datasets"
            flag = f" --data_dir {data_dir}" if data_dir else ""
            raise DataError(f"dataset {name!r} is not prepared in {where}; run "
                                  f"`gan-jax data prepare {name}{flag}` first")
        print(f"Preparing the TFDS dataset {name} in {builder.data_dir} (once)")
        prepare.prepare(name, data_dir)
        builder = tfds.builder(name, data_dir=data_dir)
    return builder


def _bad_split(name, split, error) -> DataError:
    return DataError(f"{split!r} is not a split of {name!r}: "
                           f"{' '.join(str(error).split())[:200]}")


def split_size(name: str, data_dir: str | None, split: str) -> int:
    """Number of examples in ``split`` (from the TFDS metadata, no image is read)."""
    builder = _prepared_builder(name, data_dir)
    try:
        return int(builder.info.splits[split].num_examples)
    except (KeyError, ValueError) as e:
        raise _bad_split(name, split, e) from None


def load_split(name: str, data_dir: str | None, split: str) -> tuple[np.ndarray, np.ndarray]:
    """All of ``split`` in TFDS order: uint8 images [N, H, W, 1] and int64 labels [N].

    mnist5k and digits are prepared on first use (from installed packages); the
    others must have been prepared (``gan-jax data prepare NAME``).
    """
    import tensorflow_datasets as tfds

    builder = _prepared_builder(name, data_dir)
    try:
        ds = builder.as_dataset(split=split, shuffle_files=False, batch_size=-1)
    except (KeyError, ValueError) as e:
        raise _bad_split(name, split, e) from None
    data = tfds.as_numpy(ds)
    return np.asarray(data["image"], np.uint8), np.asarray(data["label"], np.int64)




def builder_split_size(builder, name: str, split: str) -> int:
    """Number of examples in ``split`` of an opened TFDS ``builder`` (metadata only)."""
    try:
        return int(builder.info.splits[split].num_examples)
    except (KeyError, ValueError) as e:
        raise _bad_split(name, split, e) from None


def load_builder_split(builder, name: str, split: str) -> tuple[np.ndarray, np.ndarray | None]:
    """All of ``split`` of an opened TFDS ``builder``: uint8 images [N, H, W, C] and int64
    labels [N] (None when the data has none), in TFDS order."""
    import tensorflow_datasets as tfds

    try:
        ds = builder.as_dataset(split=split, shuffle_files=False, batch_size=-1)
    except (KeyError, ValueError) as e:
        raise _bad_split(name, split, e) from None
    data = tfds.as_numpy(ds)
    labels = data.get("label")
    return (np.asarray(data["image"], np.uint8),
            None if labels is None else np.asarray(labels, np.int64))
