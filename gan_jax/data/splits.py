"""Whole splits of prepared TFDS datasets as NumPy arrays (images and labels, TFDS order).

``load_split`` opens a dataset by name (mnist5k and digits are prepared on first use from
their installed Python packages; any other must have been prepared with
``gan-jax data prepare NAME``); ``load_builder_split`` reads an already opened builder (image
folders, emoji). Images are uint8 [N, H, W, C]; labels int64 [N].
"""

from __future__ import annotations

import os

import numpy as np

from gan_jax.errors import DataError


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
