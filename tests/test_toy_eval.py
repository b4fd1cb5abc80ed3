"""ToyEvaluator against closed forms: exact mixture samples, collapsed ones, the Parzen entropy."""

import jax
import numpy as np
import pytest
from ml_collections import ConfigDict

from gan_jax.data import Spec, synthetic
from gan_jax.eval import evaluate
from gan_jax.eval.toy_eval import ToyEvaluator


def data(name, **fields):
    return ConfigDict({"name": name, "radius": 1.0, "std": 0.01, "means": (2.0,),
                       "stds": (0.5,), "weights": None, **fields})


def test_exact_ring_samples_capture_every_mode():
    config = data("ring8")
    evaluator = ToyEvaluator(config, 2500)
    x = np.asarray(synthetic.sample_batch(synthetic.make_mixture(config),
                                          jax.random.PRNGKey(3), 2500))
    out = evaluator(x)
    assert set(out) == {"modes_captured", "high_quality", "reverse_kl"}
    # P(|N(0, I_2)| <= 3) = 1 - exp(-4.5) = 0.9889; 2,500 samples: std 0.002.
    assert out["modes_captured"] == 8 and abs(out["high_quality"] - 0.9889) < 0.01
    assert out["reverse_kl"] < 0.01
    assert evaluator.reference_key.startswith("ring8/mixture-") and \
        evaluator.reference_key.endswith("/n2500")
    collapsed = np.tile(x[:1], (2500, 1))
    assert evaluator(collapsed)["modes_captured"] == 1
    assert evaluator(collapsed)["reverse_kl"] == pytest.approx(np.log(8))


def test_parzen_of_exact_gaussian_samples_is_minus_the_entropy():
    """Exact samples of N(2, 0.5^2): the Parzen estimate tends to -H = -log(0.5 sqrt(2 pi e)).

    With 2,500 samples and the chosen window the bias is about -0.01 nats (measured over
    seeds), the test set's sampling std 0.014; tolerance 0.05.
    """
    config = data("gauss1d")
    evaluator = ToyEvaluator(config, 2500)
    x = np.random.default_rng(0).normal(2.0, 0.5, size=(2500, 1))
    out = evaluator(x)
    entropy = np.log(0.5 * np.sqrt(2 * np.pi * np.e))
    assert abs(out["parzen_ll"] + entropy) < 0.05, out
    assert 0.005 <= out["parzen_sigma"] <= 0.5
    wide = evaluator(np.random.default_rng(1).normal(2.0, 1.5, size=(2500, 1)))
    assert wide["parzen_ll"] < out["parzen_ll"] - 0.3
    assert np.isnan(evaluator(np.full((2500, 1), np.nan))["parzen_ll"])
    assert evaluator.reference_key.endswith("/n2500/parzen-val1000-test2500")


def test_metric_directions_and_best_rule():
    assert evaluate.metric_names(Spec((2,), None, 8)) == ("modes_captured", "high_quality",
                                                          "reverse_kl")
    assert evaluate.metric_names(Spec((1,), None, 1))[-1] == "parzen_ll"
    assert evaluate.metric_names(Spec((28, 28, 1), (-1.0, 1.0), 10))[0] == "fd_lenet"
    assert evaluate.is_better("fd_lenet", 10.0, 12.0) and not evaluate.is_better(
        "fd_lenet", 12.0, 10.0)
    assert evaluate.is_better("high_quality", 0.6, 0.5)
    assert not evaluate.is_better("high_quality", 0.5, 0.5)  # ties keep the earlier step
    assert not evaluate.is_better("kid", float("nan"), None)
    assert evaluate.is_better("kid", 1.0, None)
