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
import numpy as np
from jax.experimental import multihost_utils

from gan_jax import sampling, state as state_lib
from gan_jax.errors import ConfigError
from gan_jax.eval import image_eval, toy_eval

# Every metric an evaluator may report, by name (declared by the evaluators).
DECLARED = {m.name: m for m in (*image_eval.ALL_METRICS, *toy_eval.METRICS,
                                *toy_eval.PARZEN_METRICS, *toy_eval.PARZEN_REPORTED)}
# Metric name -> True when higher is better (the metrics best_metric may name).
METRICS = {m.name: m.higher_is_better
           for m in (*image_eval.ALL_METRICS, *toy_eval.METRICS, *toy_eval.PARZEN_METRICS)}
PREFIX = "eval/"
_BATCH = 500        # generated examples per jitted call


def _is_toy(spec) -> bool:
    # Vectors are toy mixtures, scored against the exact mixture; images by features.
    return len(spec.shape) == 1


def features_of(config) -> str:
    """The image feature network a run's evaluations use: ``config.eval_features``
    resolved (``auto``: LeNet where gan_jax has one, else Inception); a protocol's own."""
    if protocol_of(config) is not None:
        return "inception"
    return image_eval.resolve_features(config.data.name, config.get("eval_features", "auto"))


def protocol_of(config) -> image_eval.Protocol | None:
    """The named protocol of ``config.eval_protocol`` (None for "none")."""
    name = config.get("eval_protocol", "none")
    return None if name == "none" else image_eval.PROTOCOLS[name]


def metric_names(spec, features: str = "lenet") -> tuple[str, ...]:
    """The metrics evaluations of data of ``spec`` report (allowed as best_metric)."""
    if _is_toy(spec):
        return tuple(m.name for m in toy_eval.metrics_of(spec.shape[0]))
    return tuple(m.name for m in image_eval.METRICS_OF[features])


def unsupported(data_config, spec, features: str = "lenet") -> str | None:
    """Why evaluations of ``config.data`` (data of ``spec``) cannot run, or None."""
    if _is_toy(spec):
        return None
    try:
        image_eval.check_supported(data_config.name, features)
    except ValueError as e:
        return f"cannot evaluate {data_config.name!r}: {e}"
    return None


def is_better(metric: str, new: float, old: float | None) -> bool:
    """Whether ``new`` strictly beats ``old`` (None: nothing yet); non-finite never does."""
    if not math.isfinite(new):
        return False
    if old is None:
        return True
    return new > old if METRICS[metric] else new < old


def num_samples(config, spec) -> int:
    """Generated samples per evaluation: ``eval_samples`` (images; a protocol's own count)
    or ``num_toy_samples``."""
    if _is_toy(spec):
        return int(config.num_toy_samples)
    protocol = protocol_of(config)
    return int(config.eval_samples if protocol is None else protocol.generated)


def make_evaluator(config, spec, n: int):
    """The data's evaluator for ``n`` samples: a callable with a ``reference_key``.

    An image evaluator loads (or, the first time, trains) the dataset's feature network
    and the real data's statistics; what stops it (a dataset without a feature network,
    more samples than the split holds, data not prepared) is one ConfigError line.
    """
    if _is_toy(spec):
        return toy_eval.ToyEvaluator(config.data, n)
    protocol = protocol_of(config)
    try:
        if protocol is None:
            return image_eval.ImageEvaluator(config.data, n, features=features_of(config),
                                             resize=config.get("eval_resize"))
        real = protocol.real
        if real is None:
            real = image_eval.ImageEvaluator.split_size(config.data, protocol.split)
        return image_eval.ImageEvaluator(config.data, real, split=protocol.split,
                                         features="inception",
                                         resize=config.get("eval_resize"))
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
        spec = sampling.spec_of(gan)
        self.n = num_samples(config, spec) if n is None else int(n)
        self.gan = gan
        batch = min(_BATCH, self.n)
        padded = -(-self.n // batch) * batch
        # [padded, latent_dim]; sample i uses row i whatever the batching.
        self.z = sampling.fixed_latents(config.seed, sampling.EVALUATION, (padded, gan.latent_dim))
        self.y = sampling.fixed_labels(padded, gan.num_classes)
        self._generate = sampling.Generator(gan, batch)
        self.is_image = not _is_toy(spec)
        # Class accuracy: the labels G was asked for, when G takes them.
        self.conditional = (self.is_image and self.y is not None
                            and config.model.get("conditioning", "none") != "none")
        self.protocol = protocol_of(config) if self.is_image else None
        self._names = image_eval.metric_names_of(features_of(config)) if self.is_image else ()
        # Toy evaluators are cheap and deterministic: every process runs its own.
        self._shared = self.is_image and jax.process_count() > 1
        built = not self._shared or jax.process_index() == 0
        self.evaluator = make_evaluator(config, spec, self.n) if built else None
        key = self.evaluator.reference_key if built else ""
        self.reference_key = _broadcast_text(key) if self._shared else key

    def samples(self, state: state_lib.GANState) -> np.ndarray:
        """G's samples [n, *data_shape] float32 from ``state``'s sampling parameters."""
        return self._generate(state, self.z, self.y)[:self.n]

    def __call__(self, state: state_lib.GANState) -> dict[str, float]:
        """The evaluation of ``state``: ``{"eval/<metric>": value, ...}`` plus
        ``eval_seconds`` (the time it took, generation included)."""
        start = time.perf_counter()
        samples = self.samples(state)
        if self.evaluator is None:
            raw = {}
        elif self.is_image and not np.all(np.isfinite(samples)):
            # Never a best; the log shows it.
            raw = dict.fromkeys(self.evaluator.metric_names, float("nan"))
        elif self.conditional:
            raw = self.evaluator(samples, labels=np.asarray(self.y[:self.n]))
        else:
            raw = self.evaluator(samples)
        if self._shared:
            keys = self._names
            present = np.array([k in raw for k in keys], np.int32)
            values = np.array([raw.get(k, np.nan) for k in keys], np.float64)
            values = np.asarray(multihost_utils.broadcast_one_to_all(values)).tolist()
            present = np.asarray(multihost_utils.broadcast_one_to_all(present)).tolist()
            raw = {k: v for k, v, p in zip(keys, values, present, strict=True) if p}
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


README_START, README_END = "<!-- metrics-table:start -->", "<!-- metrics-table:end -->"


def metrics_markdown() -> str:
    """The README's metric table, from the evaluators' declarations."""
    rows = ["| metric | printed as | better | definition |", "| --- | --- | --- | --- |"]
    for metric in DECLARED.values():
        better = "higher" if metric.higher_is_better else "lower"
        if metric.name not in METRICS:
            better = "(reported)"
        rows.append(f"| `{metric.name}` | {metric.label} | {better} | {metric.definition} |")
    return "\n".join(rows)


def readme_with_metrics(text: str) -> str:
    """``text`` (README.md) with the block between the metric-table markers regenerated."""
    start, end = text.index(README_START) + len(README_START), text.index(README_END)
    return text[:start] + "\n" + metrics_markdown() + "\n" + text[end:]


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--readme"]:
        sys.exit("usage: python -m gan_jax.eval.evaluate --readme  (rewrites README.md's "
                 "metric table from the evaluators' declarations)")
    with open("README.md") as f:
        readme = f.read()
    with open("README.md", "w") as f:
        f.write(readme_with_metrics(readme))
