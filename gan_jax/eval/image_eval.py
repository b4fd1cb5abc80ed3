"""Image metrics of generated samples against cached features of the real data.

:class:`ImageEvaluator` is built once per run with one of two feature networks
(``features``):

- ``"lenet"``: the dataset's LeNet (:mod:`gan_jax.eval.feature_net`, trained on first use
  if there is none), for the datasets it has a recipe for (MNIST-like). Its Frechet distance
  is ``fd_lenet`` and its Inception-score formula ``classifier_score``: never FID.
- ``"inception"``: the FID Inception-v3 (:mod:`gan_jax.eval.inception`, weights prepared by
  ``gan-jax features prepare inception``), for any image data, any size, 1 or 3 channels.
  Its Frechet distance is ``fid`` and ``inception_score`` is reported only when the
  weights hold the graph's logits layer.

Both report KID, precision/recall and density/coverage on their own features:

=====================  ==========================================================
``fd_lenet`` / ``fid`` Frechet distance of Gaussians fitted to the features (Heusel
                       et al. 2017)
``kid``, ``kid_std``   unbiased MMD^2, cubic polynomial kernel, mean and std over
                       100 subsets of up to 1,000 (Binkowski et al. 2018)
``precision``,         improved precision and recall (Kynkaanniemi et al. 2019),
``recall``             k = 5
``density``,           density and coverage (Naeem et al. 2020), k = 5
``coverage``
``classifier_score``,  exp(E KL(p(y|x) || p(y))) on the network's softmax (the
``inception_score``    Inception-score formula, Salimans et al. 2016), 10 splits
``class_accuracy``     LeNet on labelled data: the share of images classified as the
                       label they were generated for
``intra_fd_lenet`` /   labelled data: the Frechet distance between the generated and
``intra_fid``          the real features of each class, averaged over the classes
=====================  ==========================================================

The last two are computed for conditional models, which pass the labels their images were
generated for. Class accuracy needs a classifier of the dataset's own classes, the LeNet:
the Inception graph's 1,008 logits are ImageNet classes, not those of CIFAR-10 or the emoji
categories, so an Inception evaluation reports no class accuracy (it says so once) and
scores conditioning by ``intra_fid``. The real labels of the reference sample are saved
with its features (``labels`` in the npz); a reference cached without them reads them from
the split when a conditional evaluation first needs them.

Reference features are keyed by everything that changes them (:attr:`reference_key`, to be
recorded with every number): LeNet ``<dataset>/<split>/<net id>/n<count>``, e.g.
``mnist5k/train/lenet-mnist5k-1a2b3c4d/n5000``; Inception
``<dataset>/<split>/<H>x<W>x<C>/<net id>/<resize>/n<count>``, where a folder or the emoji set
is named with its build's fingerprint (``emoji-0123456789ab``). They are cached as
``<data_dir>/gan_jax_reference/<key>.npz`` (``~/tensorflow_datasets/...`` when ``data_dir``
is None); a long Inception reference is saved every :data:`CHUNK` images, so an interrupted
computation resumes. The real sample is a fixed function of the key: the first ``count``
indices of ``numpy.random.default_rng(0).permutation(len(split))``, sorted, or the whole
split when ``count`` equals its size. Another network has another id, so statistics of
different networks never mix.

:data:`PROTOCOLS` names standard settings (features, split, real and generated counts).
"""

from __future__ import annotations

import dataclasses
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
# Real images per saved piece of a reference that is being computed.
CHUNK = 1000
FEATURES = ("lenet", "inception")

_SHARED = (
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
)
METRICS = (
    metrics.Metric("fd_lenet", False, "FD-LeNet", definition=(
        "Frechet distance of Gaussians fitted to the LeNet features (the formula of Heusel "
        "et al. 2017; moments in float64, square-root trace by the symmetric "
        "eigen-decomposition); never called FID")),
    *_SHARED,
    metrics.Metric("classifier_score", True, "classifier score", std="classifier_score_std",
                   definition=("exp(E KL(p(y\\|x) ‖ p(y))) on the LeNet softmax, 10 splits "
                               "(the Inception-score formula, Salimans et al. 2016)")),
)
INCEPTION_METRICS = (
    metrics.Metric("fid", False, "FID", definition=(
        "Frechet distance on the pool_3 features of the FID Inception-v3 (Heusel et al. "
        "2017), resize and counts in the reference key; with `--features inception`")),
    *_SHARED,
    metrics.Metric("inception_score", True, "Inception score", std="inception_score_std",
                   definition=("exp(E KL(p(y\\|x) ‖ p(y))) on the 1,008-way softmax of the "
                               "Inception graph, 10 splits (Salimans et al. 2016); only when "
                               "the weights hold the logits layer")),
)
CLASS_ACCURACY = metrics.Metric("class_accuracy", True, "class accuracy", definition=(
    "share of generated images that the dataset's LeNet assigns to the label they were "
    "generated for (labelled data; chance is 1 / classes for a G that ignores labels)"))
INTRA_FD_LENET = metrics.Metric("intra_fd_lenet", False, "intra-class FD-LeNet", definition=(
    "FD-LeNet between the generated and the real images of each class (the labels they "
    "were generated for; the real sample's labels), averaged over the classes (conditional "
    "models)"))
INTRA_FID = metrics.Metric("intra_fid", False, "intra-class FID", definition=(
    "FID between the generated and the real images of each class, averaged over the "
    "classes (conditional models; the intra-FID of Miyato & Koyama 2018)"))
METRICS_OF = {"lenet": (*METRICS, CLASS_ACCURACY, INTRA_FD_LENET),
              "inception": (*INCEPTION_METRICS, INTRA_FID)}
# Both sets once, Frechet distances first (the order of printed tables).
ALL_METRICS = (METRICS[0], INCEPTION_METRICS[0], *_SHARED, METRICS[-1], INCEPTION_METRICS[-1],
               CLASS_ACCURACY, INTRA_FD_LENET, INTRA_FID)
# Computed only from the labels a conditional model's images were generated for.
CONDITIONAL_METRICS = (CLASS_ACCURACY.name, INTRA_FD_LENET.name, INTRA_FID.name)


def metric_names_of(features: str) -> tuple[str, ...]:
    """Every key an evaluation with ``features`` may return, spreads after their metric."""
    return tuple(k for m in METRICS_OF[features] for k in (m.name, m.std) if k)


# Every key a LeNet evaluation of unconditional samples returns, in a fixed order.
METRIC_NAMES = tuple(k for k in metric_names_of("lenet") if k not in CONDITIONAL_METRICS)


def intra_class_frechet_distance(real_feats: np.ndarray, real_labels: np.ndarray,
                                 feats: np.ndarray, labels: np.ndarray) -> float:
    """The mean over the classes c among ``labels`` of the Frechet distance between the
    real features of class c and the generated features of class c.

    ``real_feats`` [N, d] with ``real_labels`` [N]; ``feats`` [M, d] with ``labels`` [M],
    the classes the images were generated for. ValueError (one line) if a class has fewer
    than 2 real or generated examples (no covariance).
    """
    real_labels, labels = np.asarray(real_labels).reshape(-1), np.asarray(labels).reshape(-1)
    distances = []
    for c in np.unique(labels):
        real_c, fake_c = real_feats[real_labels == c], feats[labels == c]
        if min(len(real_c), len(fake_c)) < 2:
            raise ValueError(f"intra-class FD: class {int(c)} has {len(real_c)} real and "
                             f"{len(fake_c)} generated examples; each needs at least 2 "
                             "(evaluate more samples)")
        distances.append(metrics.frechet_distance_from_statistics(
            *metrics.gaussian_statistics(real_c), *metrics.gaussian_statistics(fake_c)))
    return float(np.mean(distances))


@dataclasses.dataclass(frozen=True)
class Protocol:
    """A named evaluation setting: Inception features, a split, real and generated counts."""

    name: str
    generated: int
    split: str
    real: int | None            # None: the whole split
    description: str


PROTOCOLS = {p.name: p for p in (
    Protocol("fid50k_full", 50_000, "train", None,
             "50,000 generated images against the whole training split (the count of "
             "Karras et al. 2019 and Brock et al. 2019)"),
    Protocol("fid10k_test", 10_000, "test", 10_000,
             "10,000 generated images against 10,000 test images (Lucic et al. 2018)"),
)}


def resolve_features(data_name: str, features: str = "auto") -> str:
    """``features`` with ``"auto"`` resolved: LeNet where gan_jax has one, else Inception."""
    if features == "auto":
        return "lenet" if data_name in feature_net.RECIPES else "inception"
    if features not in FEATURES:
        raise ValueError(f"unknown feature network {features!r}; choose auto, "
                         + ", ".join(FEATURES))
    return features


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


def check_supported(name: str, features: str = "lenet") -> feature_net.Recipe | None:
    """The LeNet recipe of dataset ``name`` (None for Inception); ValueError if unsupported."""
    from gan_jax import data

    if resolve_features(name, features) == "inception":
        return None
    if data.SOURCES.get(name) is not None and name not in feature_net.RECIPES:
        raise ValueError(f"dataset {name!r} has no LeNet feature network: LeNet metrics "
                         "need one of " + ", ".join(feature_net.RECIPES)
                         + " (use the Inception features: config.eval_features='inception')")
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


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, np.float64)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return probs / probs.sum(axis=1, keepdims=True)


def _write_npz(path: Path, **arrays) -> None:
    """Written beside and renamed: a reader sees the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class _RealImages:
    """The real split an evaluator compares with: its size, its images, its name in keys."""

    def __init__(self, data_config, split: str, features: str):
        self.split = split
        if features == "lenet":
            self.name = data_config.name
            self.size = real_data.split_size(self.name, data_config.data_dir, split)
            self._load = lambda: real_data.load_split(self.name, data_config.data_dir, split)
            self.shape = None
            return
        from gan_jax import data

        source = data.get(data_config)
        if len(source.spec.shape) != 3:
            raise ValueError(f"dataset {data_config.name!r} is not images; the Inception "
                             "features need [H, W, C] images")
        folder = getattr(source, "folder", None)
        # A folder's name says nothing about its contents: its build's fingerprint does.
        self.name = (data_config.name if folder is None
                     else f"{data_config.name}-{folder.fingerprint[:12]}")
        self.shape = tuple(source.spec.shape)
        self.size = real_data.builder_split_size(source.builder, data_config.name, split)
        self._load = lambda: real_data.load_builder_split(source.builder, data_config.name,
                                                          split)

    def load(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The split's images and labels (None for unlabelled data)."""
        return self._load()


class ImageEvaluator:
    """Scores generated images against the real data of ``data_config``.

    Args:
      data_config: the run's ``config.data`` (``name``, ``data_dir``, ``split``).
      num_samples: how many real images make the reference (at most the split's size).
      split: the real split (default ``data_config.split``).
      seed: seeds the KID subsets.
      kid_subsets: how many KID subsets (Binkowski et al. use 100 of 1,000).
      weights_dir: where shipped LeNet networks are looked up (default the package's).
      features: ``"lenet"``, ``"inception"`` or ``"auto"`` (LeNet where there is one).
      resize: the Inception resize mode (``gan_jax.eval.inception.RESIZE_MODES``).
      inception_dir: where prepared Inception weights are read (default beside the data).

    Raises ValueError (one line) for an unsupported dataset, a bad sample count, a
    split too small, data that is not prepared or missing weights, before any heavy compute.
    """

    def __init__(self, data_config, num_samples: int, *, split: str | None = None,
                 seed: int = 0, kid_subsets: int = KID_SUBSETS, weights_dir=None,
                 features: str = "lenet", resize: str | None = None, inception_dir=None,
                 log=print):
        from gan_jax.eval import inception

        self.name = data_config.name
        self.features_kind = resolve_features(self.name, features)
        self.recipe = check_supported(self.name, self.features_kind)
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
        self.resize = inception.check_resize(resize or inception.DEFAULT_RESIZE)
        # From the metadata, before a network is loaded or trained.
        self.real = _RealImages(data_config, self.split, self.features_kind)
        if self.real.size < self.num_samples:
            raise ValueError(f"num_samples={self.num_samples} exceeds the {self.real.size} "
                             f"images of {self.name}:{self.split}; lower it "
                             "(config.eval_samples)")
        self._log_no_accuracy = None
        if self.features_kind == "lenet":
            self.net = feature_net.load(self.name, self.data_dir, weights_dir=weights_dir,
                                        log=log)
            self.shape = tuple(self.recipe.shape)
            parts = [self.real.name, self.split, self.net.id]
        else:
            self.net = (inception.load(self.data_dir) if inception_dir is None
                        else inception.read(inception_dir))
            self.shape = self.real.shape
            if not self.net.has_logits:
                log(f"Inception score unavailable: the weights {self.net.id} "
                    f"({self.net.info.get('source_file', '?')}) have no logits layer")
            self._log_no_accuracy = log
            parts = [self.real.name, self.split, "x".join(map(str, self.shape)), self.net.id,
                     self.resize]
        parts.append(f"n{self.num_samples}")
        self.reference_key = "/".join(parts)
        self.reference_path = reference_root(self.data_dir).joinpath(
            *map(_path_part, parts[:-1]), f"{parts[-1]}.npz")
        self.metric_names = metric_names_of(self.features_kind)
        if self.features_kind == "inception" and not self.net.has_logits:
            self.metric_names = tuple(k for k in self.metric_names
                                      if not k.startswith("inception_score"))
        self.computed_reference = False
        self._real_labels = None
        self.real_features = self._reference(log)
        self.real_mu, self.real_sigma = metrics.gaussian_statistics(self.real_features)

    @staticmethod
    def split_size(data_config, split: str) -> int:
        """How many images ``split`` of the data holds (metadata only)."""
        return _RealImages(data_config, split, "inception").size

    def _real_features(self, images: np.ndarray) -> np.ndarray:
        if self.features_kind == "lenet":
            return self.net.apply(real_data.scale(images))[1]
        return self.net.apply(images, resize_mode=self.resize)[1]

    def _reference(self, log) -> np.ndarray:
        """float32 ``[num_samples, dim]`` real features, from the cache or computed."""
        path = self.reference_path
        if path.is_file():
            try:
                with np.load(path) as cached:
                    if str(cached["key"]) == self.reference_key:
                        if "labels" in cached:
                            self._real_labels = np.asarray(cached["labels"], np.int64)
                        return np.asarray(cached["features"], np.float32)
                log(f"Reference statistics {path} hold another key; recomputing them")
            except (OSError, ValueError, KeyError) as e:
                log(f"Reference statistics {path} cannot be read ({type(e).__name__}); "
                    "recomputing them")
        images, labels = self.real.load()
        idx = reference_indices(images.shape[0], self.num_samples)
        if labels is not None:
            self._real_labels = labels[idx]
        partial = path.with_name(path.stem + ".partial.npz")
        done = np.zeros((0,), np.float32)
        if partial.is_file():
            try:
                with np.load(partial) as cached:
                    if str(cached["key"]) == self.reference_key:
                        done = np.asarray(cached["features"], np.float32)
            except (OSError, ValueError, KeyError):
                done = np.zeros((0,), np.float32)
        pieces = [done] if done.size else []
        start = done.shape[0] if done.size else 0
        if self.features_kind == "inception" and start < idx.size:
            log(f"Computing Inception features of {idx.size - start} real images of "
                f"{self.name}:{self.split} (saved every {CHUNK}; an interrupted run resumes)")
        chunk = CHUNK if self.features_kind == "inception" else idx.size
        while start < idx.size:
            pieces.append(self._real_features(images[idx[start:start + chunk]]))
            start += chunk
            if start < idx.size:
                _write_npz(partial, key=np.asarray(self.reference_key),
                           features=np.concatenate(pieces))
        feats = np.concatenate(pieces)
        extra = {} if self._real_labels is None else {"labels": self._real_labels}
        _write_npz(path, key=np.asarray(self.reference_key), features=feats, indices=idx,
                   **extra)
        if partial.exists():
            partial.unlink()
        self.computed_reference = True
        return feats

    @property
    def real_labels(self) -> np.ndarray | None:
        """int64 [num_samples] labels of the reference sample (None for unlabelled data)."""
        if self._real_labels is None:
            labels = self.real.load()[1]
            if labels is not None:
                self._real_labels = labels[reference_indices(labels.shape[0],
                                                             self.num_samples)]
        return self._real_labels

    def check_images(self, images) -> np.ndarray:
        """``images`` as float32 NumPy, or ValueError naming what is wrong with them."""
        return check_images(images, self.name, self.shape)

    def features(self, images) -> tuple[np.ndarray | None, np.ndarray]:
        """``(logits or None, features)`` of checked images."""
        x = self.check_images(images)
        if self.features_kind == "lenet":
            return self.net.apply(x)
        return self.net.apply(x, resize_mode=self.resize)

    def __call__(self, images, labels=None) -> dict[str, float]:
        """The metrics of ``images`` ``[N, H, W, C]`` in [-1, 1] (NumPy or JAX), N >= 6;
        ``labels`` [N]: the classes they were generated for (class accuracy with the LeNet,
        intra-class FD with either network)."""
        logits, feats = self.features(images)
        return self.score_features(logits, feats, labels)

    def score_features(self, logits: np.ndarray | None, feats: np.ndarray,
                       labels=None) -> dict[str, float]:
        """The metrics from the network's outputs on the generated images."""
        mu, sigma = metrics.gaussian_statistics(feats)
        kid = metrics.kernel_inception_distance(self.real_features, feats,
                                                num_subsets=self.kid_subsets,
                                                subset_size=KID_SUBSET_SIZE, seed=self.seed)
        prdc = metrics.precision_recall_density_coverage(self.real_features, feats, k=PRDC_K)
        fd = metrics.frechet_distance_from_statistics(self.real_mu, self.real_sigma, mu, sigma)
        lenet = self.features_kind == "lenet"
        out = {"fd_lenet" if lenet else "fid": fd, "kid": kid["mean"], "kid_std": kid["std"],
               **prdc}
        if logits is not None:
            probs = _softmax(logits)
            cs = metrics.classifier_score(probs,
                                          num_splits=min(CLASSIFIER_SPLITS, probs.shape[0]))
            score = "classifier_score" if lenet else "inception_score"
            out[score], out[score + "_std"] = cs["mean"], cs["std"]
        if labels is None:
            return out
        labels = np.asarray(labels).reshape(-1)
        if lenet and logits is not None:
            out["class_accuracy"] = float(np.mean(np.argmax(logits, axis=1) == labels))
        elif not lenet and self._log_no_accuracy is not None:
            self._log_no_accuracy("class accuracy unavailable with the Inception features: "
                                  "their logits are ImageNet classes, not the dataset's "
                                  "(intra_fid scores the conditioning)")
            self._log_no_accuracy = None
        real_labels = self.real_labels
        if real_labels is not None:
            out["intra_fd_lenet" if lenet else "intra_fid"] = intra_class_frechet_distance(
                self.real_features, real_labels, feats, labels)
        return out


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
