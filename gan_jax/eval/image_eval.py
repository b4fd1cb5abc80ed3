"""Image metrics of generated samples against cached statistics of the real data.

:class:`ImageEvaluator` is built once per run: it loads the dataset's LeNet
feature network (:mod:`gan_jax.eval.feature_net`, trained on first use if
there is none) and the features of ``num_samples`` real images of a split,
then scores any batch of generated images with the metrics of
:mod:`gan_jax.eval.metrics`:

=====================  ==========================================================
``fd_lenet``           Frechet distance of Gaussians fitted to the LeNet features
                       (the FID formula, Heusel et al. 2017, on LeNet features:
                       never call it FID)
``kid``, ``kid_std``   unbiased MMD^2, cubic polynomial kernel, mean and std over
                       100 subsets of up to 1,000 (Binkowski et al. 2018)
``precision``,         improved precision and recall (Kynkaanniemi et al. 2019),
``recall``             k = 5
``density``,           density and coverage (Naeem et al. 2020), k = 5
``coverage``
``classifier_score``,  exp(E KL(p(y|x) || p(y))) on the LeNet softmax (the
``classifier_score_std``  Inception-score formula, Salimans et al. 2016), 10 splits
=====================  ==========================================================

Reference statistics are keyed by (dataset, split, feature-network id, sample
count), e.g. ``mnist5k/train/lenet-mnist5k-1a2b3c4d/n5000``
(:attr:`ImageEvaluator.reference_key`, to be recorded with every number), and
cached as ``<data_dir>/gan_jax_reference/<dataset>/<split>/<net id>/n<count>.npz``
(``~/tensorflow_datasets/...`` when ``data_dir`` is None). The real sample is a
fixed function of the key: the first ``count`` indices of
``numpy.random.default_rng(0).permutation(len(split))``, sorted, or the whole
split when ``count`` equals its size. A retrained network has a new id, so
its statistics never mix with an older network's.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import jax
import numpy as np

from gan_jax.eval import feature_net, metrics, real_data

DEFAULT_NUM_SAMPLES = 5000
PRDC_K = 5
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
CLASSIFIER_SPLITS = 10
# PRDC's k-th neighbour among the generated images needs k others.
MIN_IMAGES = PRDC_K + 1
# Slack on the [-1, 1] check: a tanh in float32 or bfloat16 may round past 1.
RANGE_SLACK = 1e-3
METRICS = (
    metrics.Metric("fd_lenet", False, "FD-LeNet", definition=(
        "Frechet distance of Gaussians fitted to the LeNet features (the formula of Heusel "
        "et al. 2017; moments in float64, square-root trace by the symmetric "
        "eigen-decomposition); never called FID")),
    metrics.Metric("kid", False, "KID", std="kid_std", definition=(
        "unbiased MMD², cubic polynomial kernel, 100 subsets of up to 1,000 (Binkowski et "
        "al. 2018); `kid_std` its spread over subsets")),
    metrics.Metric("precision", True, "precision", definition=(
        "improved precision, k = 5 (Kynkäänniemi et al. 2019)")),
    metrics.Metric("recall", True, "recall", definition=(
        "improved recall, k = 5 (Kynkäänniemi et al. 2019)")),
    metrics.Metric("density", True, "density", definition="density, k = 5 (Naeem et al. 2020)"),
    metrics.Metric("coverage", True, "coverage", definition=(
        "coverage, k = 5 (Naeem et al. 2020)")),
    metrics.Metric("classifier_score", True, "classifier score", std="classifier_score_std",
                   definition=("exp(E KL(p(y\\|x) ‖ p(y))) on the LeNet softmax, 10 splits "
                               "(the Inception-score formula, Salimans et al. 2016)")),
)
# Every key an evaluation returns, in a fixed order (spreads after their metric).
METRIC_NAMES = tuple(k for m in METRICS for k in (m.name, m.std) if k)


def reference_root(data_dir: str | None) -> Path:
    return real_data.data_root(data_dir) / "gan_jax_reference"


def _path_part(text: str) -> str:
    """A split such as ``train[:90%]`` as one safe path component."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def reference_indices(split_size: int, num_samples: int) -> np.ndarray:
    """Which examples of the split make the reference sample (sorted int64 indices)."""
    if num_samples == split_size:
        return np.arange(split_size, dtype=np.int64)
    return np.sort(np.random.default_rng(0).permutation(split_size)[:num_samples])


def check_supported(name: str) -> feature_net.Recipe:
    """The feature network's recipe of dataset ``name``; ValueError if there is none."""
    from gan_jax import data

    if data.SOURCES.get(name) is not None and name not in feature_net.RECIPES:
        raise ValueError(f"dataset {name!r} has no LeNet feature network: image metrics "
                         "need one of " + ", ".join(feature_net.RECIPES))
    return feature_net.check_name(name)


def check_images(images, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """``images`` ``[N, *shape]`` in [-1, 1] as float32 NumPy, or one-line ValueError."""
    x = np.asarray(jax.device_get(images))
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(f"images must have shape [N, {', '.join(map(str, shape))}] for "
                         f"{name}, got {list(x.shape)}")
    if x.shape[0] < MIN_IMAGES:
        raise ValueError(f"need at least {MIN_IMAGES} images (PRDC uses k = {PRDC_K} "
                         f"neighbours), got {x.shape[0]}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"images must be floats in [-1, 1], got dtype {x.dtype} (scale "
                         "uint8 images with x / 127.5 - 1)")
    x = x.astype(np.float32)
    lo, hi = float(x.min()), float(x.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError("images contain NaN or infinite values")
    if lo < -1 - RANGE_SLACK or hi > 1 + RANGE_SLACK:
        raise ValueError(f"images must lie in [-1, 1], got values in [{lo:.3g}, {hi:.3g}] "
                         "(scale uint8 images with x / 127.5 - 1)")
    return x


class ImageEvaluator:
    """Scores generated images against the real data of ``data_config``.

    Args:
      data_config: the run's ``config.data`` (``name``, ``data_dir``, ``split``).
      num_samples: how many real images make the reference (at most the split's size).
      split: the real split (default ``data_config.split``).
      seed: seeds the KID subsets.
      kid_subsets: how many KID subsets (Binkowski et al. use 100 of 1,000).
      weights_dir: where shipped feature networks are looked up (default the package's).

    Raises ValueError (one line) for an unsupported dataset, a bad sample count, a
    split too small or data that is not prepared, before any heavy compute.
    """

    def __init__(self, data_config, num_samples: int, *, split: str | None = None,
                 seed: int = 0, kid_subsets: int = KID_SUBSETS, weights_dir=None,
                 log=print):
        self.name = data_config.name
        self.recipe = check_supported(self.name)
        if isinstance(num_samples, bool) or not isinstance(num_samples, int | np.integer) \
                or num_samples < MIN_IMAGES:
            raise ValueError(f"num_samples must be an integer >= {MIN_IMAGES}, "
                             f"got {num_samples!r}")
        self.num_samples = int(num_samples)
        self.data_dir = data_config.data_dir
        self.split = data_config.split if split is None else split
        self.seed = int(seed)
        if kid_subsets < 1:
            raise ValueError(f"kid_subsets must be >= 1, got {kid_subsets}")
        self.kid_subsets = int(kid_subsets)
        # From the metadata, before a feature network is loaded or trained.
        size = real_data.split_size(self.name, self.data_dir, self.split)
        if size < self.num_samples:
            raise ValueError(f"num_samples={self.num_samples} exceeds the {size} images of "
                             f"{self.name}:{self.split}; lower it (config.eval_samples)")
        self.net = feature_net.load(self.name, self.data_dir, weights_dir=weights_dir, log=log)
        self.reference_key = f"{self.name}/{self.split}/{self.net.id}/n{self.num_samples}"
        self.reference_path = (reference_root(self.data_dir) / self.name
                               / _path_part(self.split) / self.net.id
                               / f"n{self.num_samples}.npz")
        self.computed_reference = False
        self.real_features = self._reference(log)
        self.real_mu, self.real_sigma = metrics.gaussian_statistics(self.real_features)

    def _reference(self, log) -> np.ndarray:
        """float32 ``[num_samples, FEATURE_DIM]`` real features, from the cache or computed."""
        path = self.reference_path
        if path.is_file():
            try:
                with np.load(path) as cached:
                    if str(cached["key"]) == self.reference_key:
                        return np.asarray(cached["features"], np.float32)
                log(f"Reference statistics {path} hold another key; recomputing them")
            except (OSError, ValueError, KeyError) as e:
                log(f"Reference statistics {path} cannot be read ({type(e).__name__}); "
                    "recomputing them")
        images, _ = real_data.load_split(self.name, self.data_dir, self.split)
        idx = reference_indices(images.shape[0], self.num_samples)
        _, feats = self.net.apply(real_data.scale(images[idx]))
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside and renamed: a reader sees the old file or the whole new one.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, key=np.asarray(self.reference_key), features=feats, indices=idx)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self.computed_reference = True
        return feats

    def check_images(self, images) -> np.ndarray:
        """``images`` as float32 NumPy, or ValueError naming what is wrong with them."""
        return check_images(images, self.name, self.recipe.shape)

    def features(self, images) -> tuple[np.ndarray, np.ndarray]:
        """``(logits [N, 10], features [N, FEATURE_DIM])`` of checked images."""
        return self.net.apply(self.check_images(images))

    def __call__(self, images) -> dict[str, float]:
        """The metrics of ``images`` ``[N, H, W, C]`` in [-1, 1] (NumPy or JAX), N >= 6."""
        logits, feats = self.features(images)
        return self.score_features(logits, feats)

    def score_features(self, logits: np.ndarray, feats: np.ndarray) -> dict[str, float]:
        """The metrics from the network's outputs on the generated images."""
        mu, sigma = metrics.gaussian_statistics(feats)
        kid = metrics.kernel_inception_distance(self.real_features, feats,
                                                num_subsets=self.kid_subsets,
                                                subset_size=KID_SUBSET_SIZE, seed=self.seed)
        prdc = metrics.precision_recall_density_coverage(self.real_features, feats, k=PRDC_K)
        logits = np.asarray(logits, np.float64)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        cs = metrics.classifier_score(probs, num_splits=min(CLASSIFIER_SPLITS, probs.shape[0]))
        return {
            "fd_lenet": metrics.frechet_distance_from_statistics(self.real_mu, self.real_sigma,
                                                                 mu, sigma),
            "kid": kid["mean"],
            "kid_std": kid["std"],
            **prdc,
            "classifier_score": cs["mean"],
            "classifier_score_std": cs["std"],
        }


def default_num_samples(data_config, split: str | None = None) -> int:
    """``DEFAULT_NUM_SAMPLES``, or the whole split when it is smaller (digits: 1,797)."""
    check_supported(data_config.name)
    size = real_data.split_size(data_config.name, data_config.data_dir,
                                  data_config.split if split is None else split)
    return min(DEFAULT_NUM_SAMPLES, size)


def evaluate_images(data_config, images, num_samples: int | None = None, *,
                    split: str | None = None, seed: int = 0) -> tuple[dict[str, float], str]:
    """One-off scoring: ``(metrics, reference_key)`` of ``images`` against ``data_config``'s data.

    ``num_samples`` defaults to :func:`default_num_samples`.
    """
    if num_samples is None:
        num_samples = default_num_samples(data_config, split)
    evaluator = ImageEvaluator(data_config, num_samples, split=split, seed=seed)
    return evaluator(images), evaluator.reference_key
