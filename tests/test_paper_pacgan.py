"""PacGAN reproduction: the Stacked MNIST set and counting, and the quick run of the record."""

import json
import math

import numpy as np
import pytest

from experiments.paper import pacgan
from gan_jax.data import stacked_mnist


def test_stacking_draws_three_images_per_example_and_names_their_mode():
    images = np.arange(5, dtype=np.uint8).reshape(5, 1, 1, 1) * np.ones((5, 2, 2, 1), np.uint8)
    labels = np.array([3, 1, 4, 1, 5])
    stacked, modes = stacked_mnist.stack(images, labels, 100, seed=7)
    assert stacked.shape == (100, 2, 2, 3) and stacked.dtype == np.uint8
    ids = stacked[:, 0, 0, :].astype(np.int64)       # pixel value = the image's index
    np.testing.assert_array_equal(modes, labels[ids[:, 0]] * 100 + labels[ids[:, 1]] * 10
                                  + labels[ids[:, 2]])
    assert np.all(stacked == stacked[:, :1, :1, :])  # each channel is one whole image
    again, _ = stacked_mnist.stack(images, labels, 100, seed=7)
    np.testing.assert_array_equal(stacked, again)


def test_mode_stats_closed_forms():
    every = np.stack(np.unravel_index(np.arange(1000), (10, 10, 10)), axis=1)
    uniform = stacked_mnist.mode_stats(np.concatenate([every, every]))
    assert uniform == {"modes": 1000.0, "kl": pytest.approx(0.0, abs=1e-12)}
    single = stacked_mnist.mode_stats(np.tile([[1, 2, 3]], (50, 1)))
    assert single["modes"] == 1.0 and single["kl"] == pytest.approx(math.log(1000))
    # Two modes, 3:1 -> sum p log(1000 p).
    two = stacked_mnist.mode_stats(np.array([[0, 0, 1]] * 3 + [[9, 9, 9]]))
    assert two["kl"] == pytest.approx(0.75 * math.log(750) + 0.25 * math.log(250))


def test_stream_is_an_epoch_permutation_and_resumes():
    source = stacked_mnist.StackedMnistSource.__new__(stacked_mnist.StackedMnistSource)
    source.images = np.zeros((10, 28, 28, 3), np.uint8)
    first = source.example_ids(0, 10, seed=3)
    assert sorted(first.tolist()) == list(range(10))
    np.testing.assert_array_equal(source.example_ids(4, 12, seed=3)[:6], first[4:])
    assert not np.array_equal(source.example_ids(10, 10, seed=3), first)  # a new epoch


def test_mean_and_standard_error():
    out = pacgan.mean_se([1.0, 2.0, 3.0, 6.0])
    assert out["mean"] == 3.0 and out["n"] == 4
    assert out["se"] == pytest.approx(np.std([1, 2, 3, 6], ddof=1) / 2)
    assert pacgan.mean_se([5.0])["se"] == 0.0


def test_quick_run_writes_the_record(tmp_path):
    from experiments.paper import common

    record = common.execute(pacgan.run, "pacgan", str(tmp_path), quick=True)
    assert record["quick"] and all(record["checks"].values()), record["checks"]
    numbers = record["numbers"]
    ours = numbers["table1"]["ring8"]["PacGAN2"]["ours"]
    assert set(ours["per_seed"]) == {"0", "1"} and ours["modes_captured"]["n"] == 2
    assert numbers["table1"]["ring8"]["PacGAN2"]["paper"]["modes_captured"]["mean"] == 7.9
    stacked = numbers["table2"]["PacDCGAN2"]
    assert 1 <= stacked["ours"]["modes"]["mean"] <= 300 and stacked["paper"]["kl"]["mean"] == 0.06
    assert numbers["lenet"]["mnist_test_accuracy"] >= 0.98
    assert numbers["stacked_real_data"]["triples_read_correctly"] >= 0.95
    assert numbers["missing_cells"] == []
    assert (tmp_path / "pacgan.png").stat().st_size > 10_000
    # A second run reads every cell back instead of training again.
    again = pacgan.run(str(tmp_path), quick=True, cached_only=True)
    # Its run time is the cells' recorded training time, not the few seconds of reading them.
    trained = (ours["wall_s_all_seeds"]
               + stacked["ours"]["per_seed"]["0"]["train_wall_s"])
    assert trained <= again["runtime_s"] <= record["runtime_s"] + 1.0
    assert json.loads(json.dumps(again["numbers"]["table1"], default=float)) == json.loads(
        json.dumps(numbers["table1"]))
