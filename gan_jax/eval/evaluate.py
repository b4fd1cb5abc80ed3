"""Evaluating a generator: during training, and for ``gan-jax eval`` on a checkpoint.

- :data:`METRICS`: every metric name a run reports, and whether higher or lower is
  better (what ``config.best_metric`` may name).
- :class:`Evaluation`: draws N samples from G with fixed latents (jitted, in batches
  of one shape, so it compiles once) and scores them with the data's evaluator:
  ``gan_jax.eval.image_eval.ImageEvaluator`` for image datasets, or
  :class:`gan_jax.eval.toy_eval.ToyEvaluator` for toy mixtures. The latents are a
  function of the config's seed only, so the evaluation of a step inside training
  and ``gan-jax eval`` of that step's checkpoint score the same samples, and
  evaluating never touches the training state's keys.
- :class:`Best`: the best value of the chosen metric so far and whether a new one
  beats it, read back from the best checkpoint's metadata on resume.

Rows: metrics are reported with the prefix ``eval/`` (``eval/fd_lenet``), beside
``eval_reference`` (the evaluator's reference key) and ``eval_samples`` (N).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils

from gan_jax import state as state_lib, steps
from gan_jax.data import synthetic

# Metric name -> True when higher is better.
IMAGE_METRICS = {"fd_lenet": False, "kid": False, "precision": True, "recall": True,
                 "density": True, "coverage": True, "classifier_score": True}
TOY_METRICS = {"modes_captured": True, "high_quality": True, "reverse_kl": False}
PARZEN_METRICS = {"parzen_ll": True}  # 1-D mixtures only
METRICS = {**IMAGE_METRICS, **TOY_METRICS, **PARZEN_METRICS}
# What ImageEvaluator returns, in a fixed order (for the broadcast between processes).
IMAGE_KEYS = ("fd_lenet", "kid", "kid_std", "precision", "recall", "density", "coverage",
              "classifier_score", "classifier_score_std")
PREFIX = "eval/"
_EVAL_KEY = 0xE7A1  # folded into the seed for the evaluation latents
_BATCH = 500        # generated examples per jitted call


def metric_names(data_config) -> tuple[str, ...]:
    """The metric names evaluations of ``config.data`` report (allowed as best_metric)."""
    if not synthetic.is_synthetic(data_config.name):
        return tuple(IMAGE_METRICS)
    if data_config.name == "gauss1d":
        return (*TOY_METRICS, *PARZEN_METRICS)
    return tuple(TOY_METRICS)


def is_better(metric: str, new: float, old: float | None) -> bool:
    """Whether ``new`` strictly beats ``old`` (None: nothing yet); non-finite never does."""
    if not math.isfinite(new):
        return False
    if old is None:
        return True
    return new > old if METRICS[metric] else new < old


def num_samples(config) -> int:
    """Generated samples per evaluation: ``eval_samples`` (images) or ``num_toy_samples``."""
    if synthetic.is_synthetic(config.data.name):
        return int(config.num_toy_samples)
    return int(config.eval_samples)


def make_evaluator(config, n: int):
    """The data's evaluator for ``n`` samples: a callable with a ``reference_key``.

    An image evaluator loads (or, the first time, trains) the dataset's feature network
    and the real data's statistics; what stops it (a dataset without a feature network,
    more samples than the split holds, data not prepared) is one ConfigError line.
    """
    from gan_jax.configs import ConfigError

    if synthetic.is_synthetic(config.data.name):
        from gan_jax.eval.toy_eval import ToyEvaluator

        return ToyEvaluator(config.data, n)
    from gan_jax.eval.image_eval import ImageEvaluator

    try:
        return ImageEvaluator(config.data, n)
    except ValueError as e:
        raise ConfigError(f"cannot evaluate {config.data.name!r} (config.eval_every="
                          f"{config.eval_every}): {e}") from None


class Evaluation:
    """Generates ``n`` samples from a GANState and evaluates them.

    ``evaluator`` scores the samples. With several processes every one generates
    (generation is collective); an image evaluator runs on process 0 only and the
    others receive its numbers and reference key, so all take the same decisions.
    """

    def __init__(self, config, gan: state_lib.GAN, n: int | None = None):
        self.n = num_samples(config) if n is None else int(n)
        self.gan = gan
        batch = min(_BATCH, self.n)
        padded = -(-self.n // batch) * batch
        key = jax.random.fold_in(jax.random.PRNGKey(config.seed), _EVAL_KEY)
        # [padded, latent_dim]; sample i uses row i whatever the batching.
        self.z = jax.random.normal(key, (padded, gan.latent_dim), jnp.float32).reshape(
            padded // batch, batch, gan.latent_dim)
        self._generate = jax.jit(lambda p, s, z: steps.generate(gan, p, s, z))
        self.is_image = not synthetic.is_synthetic(config.data.name)
        # Toy evaluators are cheap and deterministic: every process runs its own.
        self._shared = self.is_image and jax.process_count() > 1
        built = not self._shared or jax.process_index() == 0
        self.evaluator = make_evaluator(config, self.n) if built else None
        key = self.evaluator.reference_key if built else ""
        self.reference_key = _broadcast_text(key) if self._shared else key

    def samples(self, state: state_lib.GANState) -> np.ndarray:
        """G's samples [n, *data_shape] float32 from ``state``'s sampling parameters."""
        params = state_lib.sampling_params(state)
        parts = [np.asarray(self._generate(params, state.g_batch_stats, z)) for z in self.z]
        return np.concatenate(parts)[:self.n]

    def __call__(self, state: state_lib.GANState) -> dict[str, float]:
        """The evaluation of ``state``: ``{"eval/<metric>": value, ...}`` plus
        ``eval_seconds`` (the time it took, generation included)."""
        start = time.perf_counter()
        samples = self.samples(state)
        if self.evaluator is None:
            raw = {}
        elif self.is_image and not np.all(np.isfinite(samples)):
            raw = dict.fromkeys(IMAGE_KEYS, float("nan"))  # never a best; the log shows it
        else:
            raw = self.evaluator(samples)
        if self._shared:
            values = np.array([raw.get(k, np.nan) for k in IMAGE_KEYS], np.float64)
            values = np.asarray(multihost_utils.broadcast_one_to_all(values)).tolist()
            raw = dict(zip(IMAGE_KEYS, values, strict=True))
        out = {PREFIX + k: float(v) for k, v in raw.items()}
        out["eval_seconds"] = time.perf_counter() - start
        return out


def _broadcast_text(text: str, size: int = 512) -> str:
    """Process 0's ``text`` (at most ``size`` UTF-8 bytes) on every process."""
    data = np.zeros(size, np.uint8)
    encoded = text.encode()[:size]
    data[:len(encoded)] = np.frombuffer(encoded, np.uint8)
    data = np.asarray(multihost_utils.broadcast_one_to_all(data))
    return bytes(data).rstrip(b"\0").decode()


class Best:
    """The best evaluation so far of ``metric``, as stored in the best checkpoint's meta."""

    def __init__(self, metric: str, reference_key: str, record: Mapping[str, Any] | None = None):
        self.metric, self.reference_key = metric, reference_key
        self.value: float | None = None
        self.step: int | None = None
        if record and record.get("metric") == metric \
                and record.get("reference_key") == reference_key:
            # Values measured against another reference, or of another metric, are not
            # comparable: the next evaluation then replaces that checkpoint.
            self.value, self.step = float(record["value"]), int(record["step"])

    def improves(self, scalars: Mapping[str, float]) -> bool:
        return is_better(self.metric, scalars[PREFIX + self.metric], self.value)

    def record(self, step: int, scalars: Mapping[str, float]) -> dict[str, Any]:
        """Takes ``scalars`` of ``step`` as the new best; returns the meta entry to store."""
        self.value, self.step = float(scalars[PREFIX + self.metric]), int(step)
        return {"metric": self.metric, "value": self.value, "step": self.step,
                "higher_is_better": METRICS[self.metric], "reference_key": self.reference_key,
                "metrics": {k[len(PREFIX):]: v for k, v in scalars.items()
                            if k.startswith(PREFIX)}}
