"""Image data through tensorflow-datasets, deterministic and resumable.

Each process reads its own share of the split (``tfds.split_for_jax_process``),
shuffles it with a seed that depends only on (config seed, epoch), repeats it,
and batches ``n_disc * per_process_batch`` examples per train step. Because the
order is a pure function of the seed, the stream can restart at any example
offset: after a resume the batches are those an uninterrupted run would see.

Images are scaled from uint8 to [-1, 1], the range of the generator's tanh,
and placed on the mesh as one global array [n_disc, global_batch, H, W, C]
sharded over the "data" axis.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator

import jax
import numpy as np

from gan_jax.configs import ConfigError
from gan_jax.data import prepare

# TensorFlow only feeds data here; keep it off any accelerator and quiet.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _tf():
    import tensorflow as tf

    tf.config.set_visible_devices([], "GPU")
    return tf


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    name: str
    shape: tuple[int, ...]     # one example, e.g. (28, 28, 1)


def _builder(data_config):
    import tensorflow_datasets as tfds

    try:
        return tfds.builder(data_config.name, data_dir=data_config.data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise ConfigError(
            f"unknown dataset {data_config.name!r} (config.data.name): neither a synthetic "
            "dataset (gauss1d, grid25, ring8) nor a TFDS dataset") from None


def _process_split(data_config, process_index=None, process_count=None):
    import tensorflow_datasets as tfds

    # Without drop_remainder the shares are disjoint and their union is the split.
    return tfds.split_for_jax_process(data_config.split, process_index=process_index,
                                      process_count=process_count, drop_remainder=False)


def _open(data_config, process_index=None, process_count=None):
    """The process's share of the split as a tf.data.Dataset of uint8 images."""
    builder = _builder(data_config)
    if not builder.is_prepared() and data_config.name in prepare.BUILT_WITHOUT_FETCH:
        print(f"Preparing the TFDS dataset {data_config.name} in {builder.data_dir} (once)")
        prepare.prepare(data_config.name, data_config.data_dir)
        builder = _builder(data_config)
    if "image" not in builder.info.features:
        raise ConfigError(f"dataset {data_config.name!r} (config.data.name) has no 'image' "
                          "feature; gan_jax trains on image datasets or synthetic mixtures")
    try:
        ds = builder.as_dataset(split=_process_split(data_config, process_index, process_count),
                                shuffle_files=False)
    except AssertionError:
        where = data_config.data_dir or "the default TFDS data dir (~/tensorflow_datasets)"
        data_dir = f" --data_dir {data_config.data_dir}" if data_config.data_dir else ""
        raise ConfigError(
            f"dataset {data_config.name!r} is not prepared in {where} (config.data.data_dir); "
            f"run `gan-jax data prepare {data_config.name}{data_dir}` or point "
            "config.data.data_dir at a prepared copy") from None
    except (KeyError, ValueError) as e:
        raise ConfigError(f"config.data.split={data_config.split!r} is not a split of "
                          f"{data_config.name!r}: {e}") from None
    return builder, ds


def dataset_info(data_config) -> DatasetInfo:
    """Shape of one example; raises ConfigError if the dataset cannot be read."""
    builder, _ = _open(data_config)
    return DatasetInfo(data_config.name, tuple(builder.info.features["image"].shape))


def image_stream(data_config, batch_per_process: int, seed: int, start_example: int = 0,
                 process_index: int | None = None, process_count: int | None = None):
    """A tf.data stream of float32 batches [batch_per_process, H, W, C] in [-1, 1].

    ``start_example`` counts the examples this process has already consumed;
    the stream starts right after them. ``process_index``/``process_count``
    default to this process's (``jax.process_index()``, ``jax.process_count()``).
    """
    tf = _tf()
    _, ds = _open(data_config, process_index, process_count)
    ds = ds.map(lambda ex: ex["image"], num_parallel_calls=tf.data.AUTOTUNE).cache()
    n = int(ds.cardinality())
    if n < batch_per_process:
        raise ConfigError(f"the {n} examples of {data_config.name}:{data_config.split} per "
                          f"process are fewer than one batch of {batch_per_process}; lower "
                          "config.batch_size")
    buffer = max(1, min(n, data_config.shuffle_buffer))
    first_epoch, skip = divmod(start_example, n)

    def epoch(e):
        # The seed of an epoch depends on (config seed, epoch) only.
        return ds.shuffle(buffer, seed=tf.cast(seed, tf.int64) * 1_000_003 + e,
                          reshuffle_each_iteration=False)

    stream = tf.data.Dataset.range(first_epoch, np.iinfo(np.int64).max).flat_map(epoch)
    stream = stream.skip(skip).batch(batch_per_process, drop_remainder=True)
    stream = stream.map(lambda x: tf.cast(x, tf.float32) / 127.5 - 1.0,
                        num_parallel_calls=tf.data.AUTOTUNE)
    return stream.prefetch(2)


def global_batches(data_config, mesh, global_batch: int, n_disc: int, seed: int,
                   start_step: int = 0) -> Iterator[jax.Array]:
    """Yields [n_disc, global_batch, H, W, C] arrays sharded over the mesh.

    Each process contributes its own ``global_batch / process_count`` examples
    per D step; a run resumed at ``start_step`` continues the same stream.
    """
    from gan_jax.steps import batch_sharding

    per_process = global_batch // jax.process_count() * n_disc
    stream = image_stream(data_config, per_process, seed, start_step * per_process)
    sharding = batch_sharding(mesh)
    for local in stream.as_numpy_iterator():
        local = local.reshape(n_disc, -1, *local.shape[1:])
        global_shape = (n_disc, global_batch, *local.shape[2:])
        yield jax.make_array_from_process_local_data(sharding, local, global_shape)
