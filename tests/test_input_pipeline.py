"""The TFDS input pipeline: deterministic, resumable, split over processes."""

import collections

import jax
import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from gan_jax import steps
from gan_jax.configs import ConfigError
from gan_jax.data import input_pipeline


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """scikit-learn's 8x8 digits as a TFDS dataset (built on first use)."""
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    return ml_collections.ConfigDict(dict(name="digits", data_dir=data_dir, split="train",
                                          shuffle_buffer=10_000))


def first_batches(config, n, batch=256, seed=0, start=0, **kwargs):
    stream = input_pipeline.image_stream(config, batch, seed, start, **kwargs)
    return [b for _, b in zip(range(n), stream.as_numpy_iterator(), strict=False)]


def test_batches_are_scaled_to_the_generator_range(digits):
    (batch,) = first_batches(digits, 1)
    assert batch.shape == (256, 8, 8, 1) and batch.dtype == np.float32
    assert batch.min() == -1.0 and batch.max() == 1.0


def test_same_seed_same_batches_other_seed_other_batches(digits):
    a, b, c = first_batches(digits, 3), first_batches(digits, 3), first_batches(digits, 3, seed=1)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


def test_epochs_are_reshuffled_and_cover_the_split(digits):
    # 1,797 examples: batch 599 makes one epoch exactly 3 batches.
    batches = first_batches(digits, 6, batch=599)
    first, second = np.concatenate(batches[:3]), np.concatenate(batches[3:])
    assert not np.array_equal(first, second)
    key = lambda x: sorted(map(bytes, x.reshape(len(x), -1)))  # noqa: E731
    assert key(first) == key(second)


def test_a_resumed_stream_continues_where_it_stopped(digits):
    straight = first_batches(digits, 10, batch=200)
    for k in (1, 8, 9):  # 1,797 examples: batch 8 straddles the first epoch boundary
        resumed = first_batches(digits, 10 - k, batch=200, start=k * 200)
        for x, y in zip(straight[k:], resumed, strict=True):
            np.testing.assert_array_equal(x, y)


def test_processes_read_disjoint_shares_whose_union_is_the_split(digits):
    def ids(index=None, count=None):
        builder = tfds.builder(digits.name, data_dir=digits.data_dir)
        split = input_pipeline._process_split(digits, index, count)
        ds = builder.as_dataset(split=split, read_config=tfds.ReadConfig(add_tfds_id=True))
        return collections.Counter(ex["tfds_id"] for ex in tfds.as_numpy(ds))

    whole, first, second = ids(), ids(0, 2), ids(1, 2)
    assert not set(first) & set(second)
    assert first + second == whole
    assert abs(sum(first.values()) - sum(second.values())) <= 1


def test_global_batches_are_sharded_over_the_mesh(digits):
    mesh = steps.make_mesh()
    batches = input_pipeline.global_batches(digits, mesh, 32, n_disc=2, seed=0)
    batch = next(batches)
    assert batch.shape == (2, 32, 8, 8, 1)
    assert batch.sharding.is_equivalent_to(steps.batch_sharding(mesh), batch.ndim)
    np.testing.assert_array_equal(
        np.asarray(batch).reshape(64, 8, 8, 1), first_batches(digits, 1, batch=64)[0])
    assert jax.process_count() == 1


def test_unknown_and_unprepared_datasets_are_one_line(tmp_path):
    missing = ml_collections.ConfigDict(dict(name="mnist", data_dir=str(tmp_path), split="train",
                                             shuffle_buffer=10))
    with pytest.raises(ConfigError, match=r"run `gan-jax data prepare mnist --data_dir"):
        input_pipeline.dataset_info(missing)
    missing.name = "not_a_dataset"
    with pytest.raises(ConfigError, match="unknown dataset 'not_a_dataset'"):
        input_pipeline.dataset_info(missing)
