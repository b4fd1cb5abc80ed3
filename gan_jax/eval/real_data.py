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

from gan_jax.data.splits import (  # noqa: F401  (this module's readers of whole splits)
    builder_split_size,
    load_builder_split,
    load_split,
    split_size,
)

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
