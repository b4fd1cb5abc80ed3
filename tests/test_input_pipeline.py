"""Host data sources: deterministic, resumable, split over processes, labels with images.

Each property is checked on a TFDS dataset (scikit-learn's 8x8 digits, built on first use)
and on an image folder with class subfolders (built once into a TFDS dataset).
"""

import collections

import jax
import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from gan_jax import data, sharding
from gan_jax.configs import ConfigError
from gan_jax.data import input_pipeline

FOLDER_CLASSES = ("cats", "dogs", "owls")
FOLDER_SIZE = 75  # 25 images per class


def _data_config(**fields):
    base = dict(name="digits", data_dir=None, split="train", shuffle_buffer=10_000, path=None,
                resolution=8, channels=1, on_bad_image="skip")
    return ml_collections.ConfigDict({**base, **fields})


@pytest.fixture(scope="module", params=["tfds", "folder"])
def source(request, tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    if request.param == "tfds":
        return data.get(_data_config(data_dir=data_dir))
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for k, name in enumerate(FOLDER_CLASSES):
        (root / name).mkdir()
        for i in range(FOLDER_SIZE // len(FOLDER_CLASSES)):
            # Class k is bright in channel k, so labels can be checked against the pixels.
            pixels = rng.integers(0, 60, (8, 8, 3), dtype=np.uint8)
            pixels[..., k] += 180
            Image.fromarray(pixels).save(root / name / f"{i:03d}.png")
    return data.get(_data_config(name="folder", data_dir=data_dir, path=str(root),
                                 channels=3))


def first_batches(source, n, batch=25, seed=0, start=0, **kwargs):
    stream = source.stream(batch, seed, start, **kwargs)
    return [b for _, b in zip(range(n), stream.as_numpy_iterator(), strict=False)]


def size(source):
    return 1797 if source.name == "digits" else FOLDER_SIZE


def test_spec_and_batches_are_scaled_to_the_generator_range(source):
    (batch,) = first_batches(source, 1)
    image, label = batch["image"], batch["label"]
    assert image.shape == (25, *source.spec.shape) and image.dtype == np.float32
    assert image.min() >= -1.0 and image.max() <= 1.0 and image.max() > 0.5
    assert label.shape == (25,) and label.dtype == np.int32
    if source.name == "digits":
        assert source.spec.num_classes == 10 and source.spec.shape == (8, 8, 1)
        np.testing.assert_allclose(source.class_frequencies().sum(), 1.0)
    else:
        assert source.spec.class_names == FOLDER_CLASSES and source.spec.shape == (8, 8, 3)
        np.testing.assert_allclose(source.class_frequencies(), np.full(3, 1 / 3))
        # The label names the bright channel of its image.
        assert np.array_equal(image.mean(axis=(1, 2)).argmax(-1), label)


def test_same_seed_same_batches_other_seed_other_batches(source):
    a, b = first_batches(source, 3), first_batches(source, 3)
    c = first_batches(source, 3, seed=1)
    for x, y in zip(a, b, strict=True):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    assert not np.array_equal(a[0]["image"], c[0]["image"])


def test_epochs_are_reshuffled_and_cover_the_split(source):
    n = size(source)
    batch = n // 3 if n % 3 == 0 else 599  # one epoch is exactly 3 batches
    batches = first_batches(source, 6, batch=batch)
    images = [b["image"] for b in batches]
    first, second = np.concatenate(images[:3]), np.concatenate(images[3:])
    assert not np.array_equal(first, second)
    key = lambda x: sorted(map(bytes, x.reshape(len(x), -1)))  # noqa: E731
    assert key(first) == key(second)


def test_a_resumed_stream_continues_where_it_stopped(source):
    batch = 200 if source.name == "digits" else 20
    straight = first_batches(source, 10, batch=batch)
    # The second and later restarts straddle an epoch boundary.
    for k in (1, 8, 9) if source.name == "digits" else (1, 3, 4):
        resumed = first_batches(source, 10 - k, batch=batch, start=k * batch)
        for x, y in zip(straight[k:], resumed, strict=True):
            np.testing.assert_array_equal(x["image"], y["image"])
            np.testing.assert_array_equal(x["label"], y["label"])


def test_processes_read_disjoint_shares_whose_union_is_the_split(source):
    def ids(index=None, count=None):
        split = input_pipeline.process_split(source.split, index, count)
        ds = source.builder.as_dataset(split=split,
                                       read_config=tfds.ReadConfig(add_tfds_id=True))
        return collections.Counter(ex["tfds_id"] for ex in tfds.as_numpy(ds))

    whole, first, second = ids(), ids(0, 2), ids(1, 2)
    assert sum(whole.values()) == size(source)
    assert not set(first) & set(second)
    assert first + second == whole
    assert abs(sum(first.values()) - sum(second.values())) <= 1


def test_batches_are_sharded_over_the_mesh(source):
    mesh = sharding.make_mesh()
    batches = source.batches(mesh, global_batch=16, n_disc=2, seed=0)
    batch = next(batches)
    assert set(batch) == {"image", "label"}
    assert batch["image"].shape == (2, 16, *source.spec.shape)
    assert batch["label"].shape == (2, 16)
    for leaf in batch.values():
        assert leaf.sharding.is_equivalent_to(sharding.batch_sharding(mesh), leaf.ndim)
    (expected,) = first_batches(source, 1, batch=32)
    np.testing.assert_array_equal(np.asarray(batch["image"]).reshape(32, *source.spec.shape),
                                  expected["image"])
    np.testing.assert_array_equal(np.asarray(batch["label"]).reshape(32), expected["label"])
    assert jax.process_count() == 1


def test_unknown_and_unprepared_datasets_are_one_line(tmp_path):
    missing = _data_config(name="mnist", data_dir=str(tmp_path))
    with pytest.raises(ConfigError, match=r"run `gan-jax data prepare mnist --data_dir"):
        data.get(missing)
    missing.name = "not_a_dataset"
    with pytest.raises(ConfigError, match="unknown dataset 'not_a_dataset'"):
        data.get(missing)
    with pytest.raises(ConfigError, match="config.data.name='folder' needs config.data.path"):
        data.get(_data_config(name="folder", data_dir=str(tmp_path)))
