"""Data sources: one interface for toy mixtures, TFDS datasets and image folders.

``get(config.data)`` returns the source that ``config.data.name`` names; no other
module branches on the kind of data. Every source has

- ``spec``: a :class:`Spec` (shape of one example, value range, classes);
- ``in_step``: True when examples are drawn inside the jitted step, from keys;
- ``sample(key) -> {"image": [*shape], "label": int32 []}`` (in-step sources: toys)
  or ``batches(mesh, *, global_batch, n_disc, seed, start_step)`` (host pipelines),
  an iterator of ``{"image": [n_disc, global_batch, *shape], "label": [n_disc,
  global_batch] int32}`` arrays sharded over the mesh, deterministic in ``seed`` and
  resumable at ``start_step``;
- ``class_frequencies()``: [num_classes] float64 frequencies of the real labels.

An example is a dict; ``"label"`` is present exactly when ``spec.num_classes`` is not
None. The key ``"image"`` also holds a toy's vector. Registry (:data:`SOURCES`): the toy
mixtures, ``folder`` (a folder of the user's images), ``emoji`` (the Twemoji set),
``stacked_mnist`` (three MNIST digits per image, gan_jax/data/stacked_mnist.py); any
other name is a TFDS dataset.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Spec:
    """What one example of a source is.

    Attributes:
      shape: one example's shape without the batch axis: (d,) for toy vectors,
        (H, W, C) for images.
      value_range: (low, high) of the values, or None when unbounded (toy vectors).
      num_classes: how many labels, or None for unlabelled data.
      class_names: the labels' names in label order, when known.
    """

    shape: tuple[int, ...]
    value_range: tuple[float, float] | None
    num_classes: int | None
    class_names: tuple[str, ...] | None = None


def _toy(data_config):
    from gan_jax.data import synthetic

    return synthetic.ToySource(data_config)


def _folder(data_config):
    from gan_jax.data import input_pipeline

    return input_pipeline.FolderSource(data_config)


def _emoji(data_config):
    from gan_jax.data import input_pipeline

    return input_pipeline.EmojiSource(data_config)


def _stacked_mnist(data_config):
    from gan_jax.data import stacked_mnist

    return stacked_mnist.StackedMnistSource(data_config)


def _tfds(data_config):
    from gan_jax.data import input_pipeline

    return input_pipeline.TfdsSource(data_config)


# config.data.name -> source factory; a name not listed here is a TFDS dataset.
SOURCES: dict[str, Callable[[Any], Any]] = {
    "ring8": _toy,
    "grid25": _toy,
    "gauss1d": _toy,
    "folder": _folder,
    "emoji": _emoji,
    "stacked_mnist": _stacked_mnist,
}


def get(data_config):
    """The source ``data_config.name`` names (a TFDS dataset when it is not in SOURCES).

    Raises ConfigError (one line) when the data cannot be found or read.
    """
    return SOURCES.get(data_config.name, _tfds)(data_config)


def expected_shape(data_config) -> tuple[int, ...] | None:
    """One example's shape when the config alone fixes it (image folders: resolution and
    channels), so a model can be checked against it before the folder is built; else None."""
    if SOURCES.get(data_config.name) in (_folder, _emoji):
        return (data_config.resolution, data_config.resolution, data_config.channels)
    return None
