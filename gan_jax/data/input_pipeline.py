"""Host data sources through tensorflow-datasets: deterministic and resumable.

:class:`TfdsSource` reads any TFDS dataset with an ``image`` feature (and a
``label`` ClassLabel when there is one); :class:`FolderSource` and
:class:`EmojiSource` are the same reader over datasets that gan_jax builds from
image files (``gan_jax/data/folder.py``, ``gan_jax/data/emoji.py``).

Each process reads its own share of the split (``tfds.split_for_jax_process``),
shuffles it with a seed that depends only on (config seed, epoch), repeats it,
and batches ``n_disc * per_process_batch`` examples per train step. Because the
order is a pure function of the seed, the stream can restart at any example
offset: after a resume the batches are those an uninterrupted run would see.

Images are scaled from uint8 to [-1, 1], the range of the generator's tanh;
labels are int32. Each batch is placed on the mesh as a dict of global arrays
``{"image": [n_disc, global_batch, H, W, C], "label": [n_disc, global_batch]}``
sharded over the "data" axis.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator

import jax
import numpy as np

from gan_jax import sharding
from gan_jax.data import Spec, prepare
from gan_jax.errors import ConfigError

# TensorFlow only feeds data here; keep it off any accelerator and quiet.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _tf():
    import tensorflow as tf

    tf.config.set_visible_devices([], "GPU")
    return tf


def _catalog_builder(data_config):
    """The TFDS builder of ``config.data.name``, prepared on first use where gan_jax can."""
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(data_config.name, data_dir=data_config.data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        from gan_jax import data

        raise ConfigError(
            f"unknown dataset {data_config.name!r} (config.data.name): neither a gan_jax "
            f"source ({', '.join(sorted(data.SOURCES))}) nor a TFDS dataset") from None
    if not builder.is_prepared() and data_config.name in prepare.BUILT_WITHOUT_FETCH:
        print(f"Preparing the TFDS dataset {data_config.name} in {builder.data_dir} (once)")
        prepare.prepare(data_config.name, data_config.data_dir)
        builder = tfds.builder(data_config.name, data_dir=data_config.data_dir)
    return builder


def process_split(split: str, process_index=None, process_count=None):
    """This process's disjoint share of ``split``; the shares' union is the split."""
    import tensorflow_datasets as tfds

    return tfds.split_for_jax_process(split, process_index=process_index,
                                      process_count=process_count, drop_remainder=False)


class TfdsSource:
    """A TFDS dataset with an ``image`` feature; labelled when it has a ``label`` ClassLabel.

    ``builder`` is an opened TFDS builder; by default the catalog's builder of
    ``config.data.name`` in ``config.data.data_dir``.
    """

    in_step = False

    def __init__(self, data_config, builder=None):
        import tensorflow_datasets as tfds

        self.data_config = data_config
        self.name = data_config.name
        self.split = data_config.split
        self.builder = _catalog_builder(data_config) if builder is None else builder
        features = self.builder.info.features
        if "image" not in features:
            raise ConfigError(f"dataset {self.name!r} (config.data.name) has no 'image' "
                              "feature; gan_jax trains on image datasets or toy mixtures")
        self._dataset(self.split)  # not prepared, or no such split: one line now
        label = features["label"] if "label" in features else None
        self.has_labels = isinstance(label, tfds.features.ClassLabel)
        self.spec = Spec(shape=tuple(features["image"].shape), value_range=(-1.0, 1.0),
                         num_classes=label.num_classes if self.has_labels else None,
                         class_names=tuple(label.names) if self.has_labels else None)

    def _dataset(self, split, **kwargs):
        try:
            return self.builder.as_dataset(split=split, shuffle_files=False, **kwargs)
        except AssertionError:
            config = self.data_config
            where = config.data_dir or "the default TFDS data dir (~/tensorflow_datasets)"
            data_dir = f" --data_dir {config.data_dir}" if config.data_dir else ""
            raise ConfigError(
                f"dataset {self.name!r} is not prepared in {where} (config.data.data_dir); "
                f"run `gan-jax data prepare {self.name}{data_dir}` or point "
                "config.data.data_dir at a prepared copy") from None
        except (KeyError, ValueError) as e:
            raise ConfigError(f"config.data.split={self.split!r} is not a split of "
                              f"{self.name!r}: {e}") from None

    @functools.cache  # noqa: B019  (one source per run; the count reads the whole split)
    def class_frequencies(self) -> np.ndarray:
        """[num_classes] frequencies of the labels in the split (images are not decoded)."""
        import tensorflow_datasets as tfds

        if not self.has_labels:
            raise ConfigError(f"dataset {self.name!r} has no labels")
        ds = self._dataset(self.split, batch_size=-1,
                           decoders={"image": tfds.decode.SkipDecoding()})
        labels = np.asarray(tfds.as_numpy(ds)["label"], np.int64)
        counts = np.bincount(labels, minlength=self.spec.num_classes).astype(np.float64)
        return counts / counts.sum()

    def stream(self, batch_per_process: int, seed: int, start_example: int = 0,
               process_index: int | None = None, process_count: int | None = None):
        """A tf.data stream of dicts: ``image`` float32 [batch, H, W, C] in [-1, 1] and, for
        labelled data, ``label`` int32 [batch].

        ``start_example`` counts the examples this process has already consumed; the stream
        starts right after them. ``process_index``/``process_count`` default to this
        process's (``jax.process_index()``, ``jax.process_count()``).
        """
        tf = _tf()
        ds = self._dataset(process_split(self.split, process_index, process_count))
        keys = ("image", "label") if self.has_labels else ("image",)
        ds = ds.map(lambda ex: {k: ex[k] for k in keys},
                    num_parallel_calls=tf.data.AUTOTUNE).cache()
        n = int(ds.cardinality())
        if n < batch_per_process:
            raise ConfigError(f"the {n} examples of {self.name}:{self.split} per process are "
                              f"fewer than one batch of {batch_per_process}; lower "
                              "config.batch_size")
        buffer = max(1, min(n, self.data_config.shuffle_buffer))
        first_epoch, skip = divmod(start_example, n)

        def epoch(e):
            # The seed of an epoch depends on (config seed, epoch) only.
            return ds.shuffle(buffer, seed=tf.cast(seed, tf.int64) * 1_000_003 + e,
                              reshuffle_each_iteration=False)

        def scale(batch):
            out = {"image": tf.cast(batch["image"], tf.float32) / 127.5 - 1.0}
            if "label" in batch:
                out["label"] = tf.cast(batch["label"], tf.int32)
            return out

        stream = tf.data.Dataset.range(first_epoch, np.iinfo(np.int64).max).flat_map(epoch)
        stream = stream.skip(skip).batch(batch_per_process, drop_remainder=True)
        return stream.map(scale, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)

    def batches(self, mesh, *, global_batch: int, n_disc: int, seed: int,
                start_step: int = 0) -> Iterator[dict[str, jax.Array]]:
        """Yields ``{"image": [n_disc, global_batch, H, W, C], "label": [n_disc,
        global_batch]}`` sharded over the mesh.

        Each process contributes its own ``global_batch / process_count`` examples per D
        step; a run resumed at ``start_step`` continues the same stream.
        """
        per_process = global_batch // jax.process_count() * n_disc
        stream = self.stream(per_process, seed, start_step * per_process)
        for local in stream.as_numpy_iterator():
            local = {k: v.reshape(n_disc, -1, *v.shape[1:]) for k, v in local.items()}
            yield sharding.global_batch_from_local(mesh, local, global_batch)


class FolderSource(TfdsSource):
    """A folder of the user's images (``config.data.path``), built once into a TFDS dataset.

    Class subfolders are labels. The build runs when the source is opened, before anything
    compiles, and is reused while the folder and the settings stay the same.
    """

    def __init__(self, data_config):
        from gan_jax.data import folder

        if not data_config.get("path"):
            raise ConfigError("config.data.name='folder' needs config.data.path, the folder "
                              "of images (e.g. --config.data.path=/path/to/faces)")
        try:
            self.folder = folder.prepare(data_config.path, data_config.resolution,
                                         data_config.channels, data_config.data_dir,
                                         data_config.on_bad_image)
        except folder.FolderError as e:
            raise ConfigError(_as_config_fields(str(e))) from None
        super().__init__(data_config, folder.builder(self.folder))


def _as_config_fields(message: str) -> str:
    """A folder error names the flags of ``gan-jax data prepare folder``; in training the
    same settings are config fields."""
    for flag, field in (("--path", "config.data.path"), ("--data_dir", "config.data.data_dir"),
                        ("--resolution", "config.data.resolution"),
                        ("--channels", "config.data.channels"),
                        ("--on_bad_image", "config.data.on_bad_image")):
        message = message.replace(flag, field)
    return message


class EmojiSource(TfdsSource):
    """The 3,786 Twemoji images (npm ``emoji-datasource-twitter``), labelled by category."""

    def __init__(self, data_config):
        from gan_jax.data import emoji, folder

        try:
            self.folder = emoji.prepare(data_config.data_dir, data_config.resolution,
                                        data_config.channels)
        except (folder.FolderError, emoji.EmojiError) as e:
            raise ConfigError(str(e)) from None
        super().__init__(data_config, folder.builder(self.folder))
