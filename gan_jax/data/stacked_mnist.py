"""Stacked MNIST: three MNIST digits as the three channels of one 28x28 image, 1,000 modes.

The mode-collapse benchmark of Metz et al. 2017 (unrolled GAN), Srivastava et al. 2017
(VEEGAN) and Lin et al. 2018 (PacGAN). As in PacGAN's released code (VEEGAN experiment),
the set is built from all 70,000 MNIST images (train and test splits together): example i
stacks three images drawn uniformly with replacement, so its mode is the triple of their
digits, ``100 d0 + 10 d1 + d2`` in 0..999, and every mode has probability about 1/1000.
``NUM_EXAMPLES`` = 128,000 examples (the code's ``num_training_sample``), drawn once from a
fixed seed, so every run trains on the same set.

Source interface (gan_jax.data): ``spec`` = images (28, 28, 3) in [-1, 1], unlabelled (the
modes are for evaluation: :attr:`StackedMnistSource.modes`); ``batches`` yields host
batches, shuffled per epoch from (seed, epoch) alone and resumable at any step.
Memory: the uint8 set is 128,000 x 2,352 bytes = 301 MB.
"""

from __future__ import annotations

from collections.abc import Iterator

import jax
import numpy as np

from gan_jax import sharding
from gan_jax.data import Spec
from gan_jax.errors import ConfigError

NUM_EXAMPLES = 128_000
BUILD_SEED = 0


def stack(images: np.ndarray, labels: np.ndarray, num_examples: int,
          seed: int = BUILD_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(stacked uint8 [num_examples, H, W, 3], modes int64 [num_examples]) from single-channel
    images [N, H, W, 1] and their digits [N]: channel c of example i is image ids[i, c], ids
    uniform over the N images (with replacement)."""
    ids = np.random.default_rng(seed).integers(0, len(images), size=(num_examples, 3))
    stacked = np.ascontiguousarray(np.moveaxis(images[ids, ..., 0], 1, -1))
    d = labels[ids]
    return stacked, d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2]


def modes_of_digits(digits: np.ndarray) -> np.ndarray:
    """Modes [N] in 0..999 of the digits [N, 3] read from the three channels."""
    digits = np.asarray(digits, np.int64)
    return digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]


class StackedMnistSource:
    """The Stacked MNIST set in memory (``config.data.name = "stacked_mnist"``).

    ``config.data.data_dir`` is where TFDS's ``mnist`` is prepared (``gan-jax data prepare
    mnist``); ``num_examples`` replaces ``NUM_EXAMPLES`` (tests build small sets).
    """

    in_step = False

    def __init__(self, data_config, num_examples: int | None = None):
        from gan_jax.data import splits

        try:
            parts = [splits.load_split("mnist", data_config.data_dir, split)
                     for split in ("train", "test")]
        except ValueError as e:
            raise ConfigError(f"config.data.name='stacked_mnist' is built from TFDS mnist: {e}"
                              ) from None
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        self.images, self.modes = stack(images, labels, num_examples or NUM_EXAMPLES)
        self.spec = Spec(shape=(28, 28, 3), value_range=(-1.0, 1.0), num_classes=None)

    def class_frequencies(self) -> np.ndarray:
        raise ConfigError("stacked_mnist is unlabelled (config.generated_labels='data' needs "
                          "labels)")

    def mode_histogram(self) -> np.ndarray:
        """[1000] frequencies of the modes in the set."""
        return np.bincount(self.modes, minlength=1000) / len(self.modes)

    def example_ids(self, start_example: int, count: int, seed: int) -> np.ndarray:
        """Indices of examples start_example .. start_example + count - 1 of the stream: one
        permutation per epoch, drawn from (seed, epoch)."""
        n = len(self.images)
        out, position = [], start_example
        while len(out) < count:
            epoch, offset = divmod(position, n)
            order = np.random.default_rng((seed, epoch)).permutation(n)
            take = order[offset:offset + count - len(out)]
            out.extend(take.tolist())
            position += len(take)
        return np.asarray(out, np.int64)

    def batches(self, mesh, *, global_batch: int, n_disc: int, seed: int,
                start_step: int = 0) -> Iterator[dict[str, jax.Array]]:
        """Yields ``{"image": [n_disc, global_batch, 28, 28, 3]}`` float32 in [-1, 1], sharded
        over the mesh; a run resumed at ``start_step`` continues the same stream."""
        if jax.process_count() != 1:
            raise ConfigError("stacked_mnist is an in-memory set for one process; run it on "
                              "one host")
        per_step = global_batch * n_disc
        step = start_step
        while True:
            ids = self.example_ids(step * per_step, per_step, seed)
            x = self.images[ids].astype(np.float32) / 127.5 - 1.0
            local = {"image": x.reshape(n_disc, global_batch, *x.shape[1:])}
            yield sharding.global_batch_from_local(mesh, local, global_batch)
            step += 1


def mode_stats(digits: np.ndarray) -> dict[str, float]:
    """The Stacked MNIST measures of VEEGAN / PacGAN from digits [N, 3] of N samples.

    ``modes``: how many of the 1,000 digit triples occur at least once; ``kl``: KL(p ||
    uniform) = sum_k p_k log(1000 p_k), p the samples' mode histogram (0 log 0 = 0), as the
    released code computes it (0 for a perfectly uniform histogram, log 1000 = 6.91 for a
    single mode).
    """
    counts = np.bincount(modes_of_digits(digits), minlength=1000).astype(np.float64)
    if counts.sum() == 0:
        raise ValueError("no samples to count modes of")
    p = counts[counts > 0] / counts.sum()
    return {"modes": float((counts > 0).sum()), "kl": float(np.sum(p * np.log(p * 1000.0)))}
