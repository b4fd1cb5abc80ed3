"""Learning-rate schedules per player (optax), from the config."""

from __future__ import annotations

import json
import os

import ml_collections
import numpy as np
import pytest
from conftest import make_toy_config

from gan_jax import configs, state as state_lib
from gan_jax.errors import ConfigError


def _sgd(lr, **fields):
    return ml_collections.ConfigDict(dict(name="sgd", lr=lr, **fields))


def _rates(tx, n):
    """The step each of ``n`` updates of plain SGD makes on a gradient of 1: the lr."""
    params = np.zeros((), np.float32)
    opt = tx.init(params)
    rates = []
    for _ in range(n):
        update, opt = tx.update(np.ones((), np.float32), opt, params)
        rates.append(-float(update))
    return np.asarray(rates)


def test_linear_cosine_and_warmup_follow_their_formulas():
    np.testing.assert_allclose(_rates(state_lib.make_optimizer(_sgd(0.1), 5), 5), 0.1)
    linear = _rates(state_lib.make_optimizer(_sgd(0.1, schedule="linear"), 4), 4)
    np.testing.assert_allclose(linear, [0.1, 0.075, 0.05, 0.025], rtol=1e-6)
    cosine = _rates(state_lib.make_optimizer(_sgd(0.1, schedule="cosine"), 4), 4)
    np.testing.assert_allclose(cosine, 0.05 * (1 + np.cos(np.pi * np.arange(4) / 4)),
                               rtol=1e-6)
    warm = _rates(state_lib.make_optimizer(_sgd(0.1, schedule="linear", warmup_steps=2), 6), 6)
    np.testing.assert_allclose(warm, [0.0, 0.05, 0.1, 0.075, 0.05, 0.025], rtol=1e-6,
                               atol=1e-9)


def test_each_player_decays_over_its_own_updates():
    config = make_toy_config(steps=10, fields={"n_disc": 3})
    for player in ("g", "d"):
        config.optim[player] = _sgd(0.1, schedule="linear")
    gan = state_lib.make_gan(config, (2,))
    # D makes n_disc updates per G step: its schedule is three times as long.
    np.testing.assert_allclose(_rates(gan.g_tx, 10), 0.1 * (1 - np.arange(10) / 10), rtol=1e-5)
    np.testing.assert_allclose(_rates(gan.d_tx, 30), 0.1 * (1 - np.arange(30) / 30), rtol=1e-5)


def test_bad_schedules_are_one_line_config_errors():
    config = make_toy_config(fields={"optim.d.schedule": "step"})
    with pytest.raises(ConfigError, match=r"unknown schedule 'step' \(config.optim.d.schedule\)"
                                          "; allowed: constant, linear, cosine"):
        configs.validate(config, num_devices=1)
    config = make_toy_config(fields={"optim.g.warmup_steps": -1})
    with pytest.raises(ConfigError, match="config.optim.g.warmup_steps=-1 must be an integer"):
        configs.validate(config, num_devices=1)


def test_a_scheduled_run_trains_and_resuming_with_another_schedule_is_refused(tmp_path):
    from gan_jax.train import train_and_evaluate

    workdir = str(tmp_path / "run")
    config = make_toy_config(steps=4, fields={"optim.g.schedule": "cosine",
                                              "optim.d.schedule": "linear",
                                              "optim.d.warmup_steps": 2})
    train_and_evaluate(config, workdir)
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    losses = [r["d_loss"] for r in rows if "d_loss" in r]
    assert losses and np.all(np.isfinite(losses))
    changed = make_toy_config(steps=6, fields={"optim.g.schedule": "constant",
                                               "optim.d.schedule": "linear",
                                               "optim.d.warmup_steps": 2})
    with pytest.raises(ConfigError, match="optim.g.schedule='cosine'"):
        train_and_evaluate(changed, workdir)
