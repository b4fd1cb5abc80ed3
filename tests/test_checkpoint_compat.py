"""Checkpoints written before batches became dicts and models took labels still restore.

The fixtures in ``tests/fixtures/legacy_workdirs/`` were written by gan_jax at commit
230c639 (``tests/fixtures/make_legacy_workdirs.py``): a ring8 run's workdir, and a
checkpoint of the default run's DCGAN at 4x4x1. Unconditional models keep their
parameter trees, so both restore into today's GANState, value for value, and the ring8
run continues where it stopped.
"""

import json
import os
import shutil

import jax
import numpy as np
import pytest

from gan_jax import checkpointing, configs, metric_writer, runs, state as state_lib
from gan_jax.data import Spec
from gan_jax.train import train_and_evaluate

LEGACY = os.path.join(os.path.dirname(__file__), "fixtures", "legacy_workdirs")


def leaf_sums(state):
    flat = jax.tree_util.tree_flatten_with_path(jax.device_get(state))[0]
    return {jax.tree_util.keystr(k): float(np.sum(np.asarray(v, np.float64))) for k, v in flat}


def expected_sums(name):
    with open(os.path.join(LEGACY, name, "leaf_sums.json")) as f:
        return json.load(f)


def test_a_legacy_ring8_run_restores_and_continues(tmp_path, capsys):
    workdir = str(tmp_path / "ring8")
    shutil.copytree(os.path.join(LEGACY, "ring8"), workdir)
    run = runs.restore(workdir)
    assert run.step == 2
    assert leaf_sums(run.state) == expected_sums("ring8")
    config = runs.config_of_workdir(workdir)
    config.num_steps = 4
    state = train_and_evaluate(config, workdir)
    assert "Resuming from the checkpoint of step 2" in capsys.readouterr().out
    assert int(state.step) == 4
    assert [r["step"] for r in metric_writer.read_metrics(workdir)][-1] == 4


@pytest.mark.parametrize("num_classes", [None, 10])
def test_a_legacy_dcgan_checkpoint_restores_value_for_value(num_classes):
    # Labelled data (10 classes) leaves an unconditional model's parameter tree as it was.
    directory = os.path.join(LEGACY, "dcgan")
    with open(os.path.join(directory, "config.json")) as f:
        saved = json.load(f)
    assert "hidden" in saved["model"]  # before models owned their fields
    config = configs.from_json(saved)
    assert "hidden" not in config.model and config.model.latent_dim == 8
    spec = Spec((4, 4, 1), (-1.0, 1.0), num_classes)
    gan = state_lib.make_gan(config, spec, axis_name=None)
    ckpt = checkpointing.Checkpointer(os.path.join(directory, "checkpoints"), create=False)
    try:
        state, meta = ckpt.restore(1, state_lib.init_state(gan, config.seed))
    finally:
        ckpt.close()
    assert meta["step"] == 1
    assert leaf_sums(state) == expected_sums("dcgan")
    samples = gan.g_apply(state.g_params, state.g_batch_stats, np.zeros((2, 8), np.float32))
    assert samples.shape == (2, 4, 4, 1)
