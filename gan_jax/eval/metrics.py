"""Sample-quality metrics as pure functions of feature arrays.

Every function here takes NumPy arrays (features of real and generated
samples, or a classifier's softmax outputs) and returns Python floats or a
dict of them. Nothing depends on which network produced the features, so the
same code serves the LeNet feature network of gan_jax, any other embedding,
or raw low-dimensional data.

All computations run on the host in float64 NumPy (``numpy.linalg.eigh`` for
the matrix square root). The symmetric eigen-decomposition form is used on
purpose: it is the same computation ``jax.numpy.linalg.eigh`` performs on an
accelerator, unlike the Schur-based ``scipy.linalg.sqrtm``;
:func:`frechet_distance_from_statistics_jax` is that computation in JAX.

Metrics
-------
- :func:`frechet_distance` -- the Frechet distance between Gaussians fitted to
  two feature sets (Dowson & Landau 1982; used as FID by Heusel et al. 2017).
  On gan_jax's LeNet features it is reported as "FD-LeNet", never as FID,
  since FID means Inception-v3 pool features.
- :func:`kernel_inception_distance` -- unbiased MMD^2 with the cubic
  polynomial kernel, averaged over random subsets (Binkowski et al. 2018,
  "Demystifying MMD GANs").
- :func:`precision_recall_density_coverage` -- improved precision and recall
  (Kynkaanniemi et al. 2019) and density and coverage (Naeem et al. 2020).
- :func:`classifier_score` -- the Inception-score formula
  exp(E_x KL(p(y|x) || p(y))) (Salimans et al. 2016) on any classifier's
  softmax.
- :func:`parzen_log_likelihood` and :func:`select_parzen_sigma` -- the
  Gaussian Parzen-window log-likelihood of Goodfellow et al. 2014 (Table 1;
  protocol of Breuleux et al. 2011), with the bandwidth chosen on a
  validation set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np


class Metric(NamedTuple):
    """A number an evaluator reports: its key, which way is better, and its printed name.

    ``std`` names the key of its spread over subsets or splits, when the evaluator
    reports one; ``definition`` is its one-line definition with its reference. Evaluators
    declare their metrics once (``METRICS``); evaluation, the best-checkpoint choice,
    ``gan-jax eval``'s table, the config validator and the README's metric table
    (``python -m gan_jax.eval.evaluate --readme``) read them.
    """

    name: str
    higher_is_better: bool
    label: str
    std: str | None = None
    definition: str = ""


def _as_2d_float64(x: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (num_samples, num_features), got shape {arr.shape}")
    if arr.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 samples, got {arr.shape[0]}")
    return arr


def _check_same_dim(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")


def _sqrt_psd(mat: np.ndarray) -> np.ndarray:
    """Symmetric square root of a positive semi-definite matrix via ``eigh``.

    Tiny negative eigenvalues from round-off are clipped to zero.
    """
    sym = 0.5 * (mat + mat.T)
    evals, evecs = np.linalg.eigh(sym)
    evals = np.clip(evals, 0.0, None)
    return (evecs * np.sqrt(evals)) @ evecs.T


def gaussian_statistics(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (``ddof=1``) of ``feats`` in float64."""
    x = _as_2d_float64(feats, "feats")
    mu = x.mean(axis=0)
    centred = x - mu
    sigma = centred.T @ centred / (x.shape[0] - 1)
    return mu, sigma


def frechet_distance_from_statistics(
    mu_a: np.ndarray, sigma_a: np.ndarray, mu_b: np.ndarray, sigma_b: np.ndarray
) -> float:
    """Frechet distance between N(mu_a, sigma_a) and N(mu_b, sigma_b).

    ``||mu_a - mu_b||^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2))``, where the
    last trace equals ``sum_i sqrt(lambda_i)`` over the eigenvalues of the
    symmetric PSD matrix ``S_a^(1/2) S_b S_a^(1/2)`` (similar to ``S_a S_b``).
    ``S_a^(1/2)`` comes from ``eigh`` and negative round-off eigenvalues are
    clipped to zero, so no complex arithmetic or Schur decomposition is needed.
    """
    mu_a = np.asarray(mu_a, dtype=np.float64)
    mu_b = np.asarray(mu_b, dtype=np.float64)
    sigma_a = np.asarray(sigma_a, dtype=np.float64)
    sigma_b = np.asarray(sigma_b, dtype=np.float64)
    if mu_a.shape != mu_b.shape or sigma_a.shape != sigma_b.shape:
        raise ValueError("statistics of the two sets have different shapes")
    sqrt_a = _sqrt_psd(sigma_a)
    inner = sqrt_a @ sigma_b @ sqrt_a
    inner = 0.5 * (inner + inner.T)
    evals = np.clip(np.linalg.eigvalsh(inner), 0.0, None)
    tr_covmean = float(np.sum(np.sqrt(evals)))
    diff = mu_a - mu_b
    value = float(diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2.0 * tr_covmean)
    return value


def frechet_distance_from_statistics_jax(
    mu_a, sigma_a, mu_b, sigma_b, dtype: str = "float64"
) -> float:
    """:func:`frechet_distance_from_statistics` in ``jax.numpy``, on JAX's default device.

    The same eigh-only computation (``jnp.linalg.eigh`` runs on CPU, GPU and TPU,
    unlike a Schur-based ``sqrtm``). ``dtype="float64"`` runs inside
    ``jax.enable_x64(True)`` and agrees with the NumPy version to round-off;
    ``"float32"`` is the fallback for backends without float64 (TPU) and is coarse:
    round-off eigenvalues of about ``eps * max eigenvalue`` enter through their
    square roots, which on singular covariances (dead ReLU units) costs ~0.5%
    relative on gan_jax's LeNet statistics. gan_jax's evaluator therefore uses
    the float64 NumPy version on the host: for d = 64 the eigh takes microseconds.
    """
    import jax

    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    args = [np.asarray(v, dtype=np.float64) for v in (mu_a, sigma_a, mu_b, sigma_b)]
    if args[0].shape != args[2].shape or args[1].shape != args[3].shape:
        raise ValueError("statistics of the two sets have different shapes")
    with jax.enable_x64(dtype == "float64"):
        return float(_jax_frechet()(*(a.astype(dtype) for a in args)))


def _jax_frechet():
    import jax
    import jax.numpy as jnp

    def sqrt_psd(mat):
        evals, evecs = jnp.linalg.eigh(0.5 * (mat + mat.T))
        return (evecs * jnp.sqrt(jnp.clip(evals, 0.0, None))) @ evecs.T

    @jax.jit
    def fd(mu_a, sigma_a, mu_b, sigma_b):
        sqrt_a = sqrt_psd(sigma_a)
        inner = sqrt_a @ sigma_b @ sqrt_a
        evals = jnp.linalg.eigvalsh(0.5 * (inner + inner.T))
        diff = mu_a - mu_b
        return (diff @ diff + jnp.trace(sigma_a) + jnp.trace(sigma_b)
                - 2.0 * jnp.sum(jnp.sqrt(jnp.clip(evals, 0.0, None))))

    return fd


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets.

    On gan_jax's LeNet classifier features this number is reported as
    "FD-LeNet" (it is the FID formula of Heusel et al. 2017, but FID denotes
    Inception-v3 features, which are not used here). Means and covariances
    (``ddof=1``) are computed in float64 NumPy; the trace of the matrix square
    root uses the symmetric eigen-decomposition form, see
    :func:`frechet_distance_from_statistics`.

    Args:
      feats_a: ``(n_a, d)`` features of the first set (e.g. real data).
      feats_b: ``(n_b, d)`` features of the second set (e.g. samples).

    Returns:
      The distance as a Python float (>= 0 up to round-off).
    """
    a = _as_2d_float64(feats_a, "feats_a")
    b = _as_2d_float64(feats_b, "feats_b")
    _check_same_dim(a, b)
    mu_a, sigma_a = gaussian_statistics(a)
    mu_b, sigma_b = gaussian_statistics(b)
    return frechet_distance_from_statistics(mu_a, sigma_a, mu_b, sigma_b)


def _polynomial_kernel_sums(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Sum and trace of the kernel matrix ``(x y^T / d + 1)^3``, in float64.

    The sum of cubes is one three-operand ``einsum`` pass over the matrix, about
    twice as fast as forming the cube (``**3`` goes through ``pow``, slower still).
    """
    k = x @ y.T
    k *= 1.0 / x.shape[1]
    k += 1.0
    diag = np.diagonal(k)
    return float(np.einsum("ij,ij,ij->", k, k, k)), float(np.sum(diag * diag * diag))


def _unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    m = x.shape[0]
    n = y.shape[0]
    sum_xx, diag_xx = _polynomial_kernel_sums(x, x)
    sum_yy, diag_yy = _polynomial_kernel_sums(y, y)
    sum_xy, _ = _polynomial_kernel_sums(x, y)
    term_xx = (sum_xx - diag_xx) / (m * (m - 1))
    term_yy = (sum_yy - diag_yy) / (n * (n - 1))
    term_xy = sum_xy / (m * n)
    return float(term_xx + term_yy - 2.0 * term_xy)


def kernel_inception_distance(
    feats_a: np.ndarray,
    feats_b: np.ndarray,
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Kernel distance: unbiased MMD^2 with a cubic polynomial kernel.

    Binkowski et al. 2018 ("Demystifying MMD GANs", KID). The kernel is
    ``k(x, y) = (x . y / d + 1)^3`` with ``d`` the feature dimension; the
    unbiased estimator drops the diagonal of the within-set kernel matrices.

    Subsets are drawn with ``rng = numpy.random.default_rng(seed)``: for each
    of the ``num_subsets`` subsets, first ``rng.choice(n_a, size, replace=False)``
    indexes ``feats_a``, then ``rng.choice(n_b, size, replace=False)`` indexes
    ``feats_b``, with ``size = min(subset_size, n_a, n_b)``.

    Returns:
      ``{"mean": ..., "std": ...}``, the mean and the population standard
      deviation (``ddof=0``) of the per-subset estimates.
    """
    a = _as_2d_float64(feats_a, "feats_a")
    b = _as_2d_float64(feats_b, "feats_b")
    _check_same_dim(a, b)
    if num_subsets < 1:
        raise ValueError(f"num_subsets must be >= 1, got {num_subsets}")
    size = min(int(subset_size), a.shape[0], b.shape[0])
    if size < 2:
        raise ValueError(f"subset size must be >= 2, got {size}")
    rng = np.random.default_rng(seed)
    estimates = np.empty(num_subsets, dtype=np.float64)
    for i in range(num_subsets):
        idx_a = rng.choice(a.shape[0], size, replace=False)
        idx_b = rng.choice(b.shape[0], size, replace=False)
        estimates[i] = _unbiased_mmd2(a[idx_a], b[idx_b])
    return {"mean": float(estimates.mean()), "std": float(estimates.std())}


# Rows per block of the chunked distance computations: a block of squared
# distances to 10,000 points is 1024 x 10,000 float64, 80 MB.
_BLOCK_ROWS = 1024


def _squared_distances(x: np.ndarray, x_sq: np.ndarray, y: np.ndarray,
                       y_sq: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``(len(x), len(y))`` in float64, clipped at 0."""
    sq = x @ y.T
    sq *= -2.0
    sq += x_sq[:, None]
    sq += y_sq[None, :]
    return np.maximum(sq, 0.0, out=sq)


def _kth_neighbour_sq_radii(x: np.ndarray, x_sq: np.ndarray, k: int) -> np.ndarray:
    """Squared distance from each row of ``x`` to its k-th nearest other row of ``x``."""
    n = x.shape[0]
    out = np.empty(n, dtype=np.float64)
    for start in range(0, n, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, n)
        sq = _squared_distances(x[start:stop], x_sq[start:stop], x, x_sq)
        rows = np.arange(stop - start)
        sq[rows, rows + start] = np.inf  # a point is not its own neighbour
        # k-th smallest among the other points (index k - 1 after excluding self).
        out[start:stop] = np.partition(sq, k - 1, axis=1)[:, k - 1]
    return out


def precision_recall_density_coverage(
    real: np.ndarray, fake: np.ndarray, k: int = 5
) -> dict[str, float]:
    """Improved precision/recall and density/coverage from k-NN balls.

    Each real feature ``r_i`` gets the radius ``rad_r(i)``, the Euclidean
    distance to its k-th nearest other real feature; each fake ``f_j`` gets
    ``rad_f(j)`` likewise among fakes. A point lies inside a ball when its
    distance is strictly smaller than the radius.

    - precision (Kynkaanniemi et al. 2019): share of fakes inside at least one
      real ball.
    - recall (Kynkaanniemi et al. 2019): share of reals inside at least one
      fake ball.
    - density (Naeem et al. 2020): ``1/(k M) sum_j sum_i 1[f_j in B(r_i)]``,
      the mean number of real balls containing a fake, divided by ``k``.
    - coverage (Naeem et al. 2020): share of real balls containing at least
      one fake, i.e. reals whose nearest fake lies within their radius.

    Distances are exact float64, compared squared (the square root is monotone,
    so ``d < r`` and ``d^2 < r^2`` agree), and computed in blocks of rows so that
    memory stays ``O(block * max(N, M))``; the k-th neighbour is found with
    ``numpy.partition``, not a sort.

    Args:
      real: ``(N, d)`` real features.
      fake: ``(M, d)`` generated features.
      k: the neighbourhood size (5 in Naeem et al.).

    Returns:
      ``{"precision", "recall", "density", "coverage"}`` as Python floats.
    """
    r = _as_2d_float64(real, "real")
    f = _as_2d_float64(fake, "fake")
    _check_same_dim(r, f)
    if not 1 <= k < min(r.shape[0], f.shape[0]):
        raise ValueError(f"k must be in [1, min(N, M) - 1], got {k}")
    r_sq = np.einsum("ij,ij->i", r, r)
    f_sq = np.einsum("ij,ij->i", f, f)
    radii_real = _kth_neighbour_sq_radii(r, r_sq, k)
    radii_fake = _kth_neighbour_sq_radii(f, f_sq, k)
    real_balls_per_fake = np.zeros(f.shape[0], dtype=np.int64)
    real_in_fake_ball = np.empty(r.shape[0], dtype=bool)
    real_covered = np.empty(r.shape[0], dtype=bool)
    for start in range(0, r.shape[0], _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, r.shape[0])
        sq = _squared_distances(r[start:stop], r_sq[start:stop], f, f_sq)  # (block, M)
        in_real_ball = sq < radii_real[start:stop, None]
        real_balls_per_fake += in_real_ball.sum(axis=0)
        real_covered[start:stop] = in_real_ball.any(axis=1)
        real_in_fake_ball[start:stop] = (sq < radii_fake[None, :]).any(axis=1)
    return {
        "precision": float((real_balls_per_fake > 0).mean()),
        "recall": float(real_in_fake_ball.mean()),
        "density": float(real_balls_per_fake.mean() / k),
        "coverage": float(real_covered.mean()),
    }


def classifier_score(probs: np.ndarray, num_splits: int = 10) -> dict[str, float]:
    """The Inception-score formula on a classifier's softmax outputs.

    ``exp(E_x KL(p(y|x) || p(y)))`` (Salimans et al. 2016), with ``p(y)`` the
    mean of ``p(y|x)`` over each split. The rows are cut into ``num_splits``
    contiguous splits (``numpy.array_split``); the score is computed per split.
    ``0 log 0`` is taken as 0, so exact one-hot rows are handled.

    Args:
      probs: ``(n, C)`` class probabilities, rows summing to 1.
      num_splits: number of splits.

    Returns:
      ``{"mean": ..., "std": ...}`` over splits (population std, ``ddof=0``).
      Ranges from 1 (all rows equal) to C (confident, evenly spread classes).
    """
    p = _as_2d_float64(probs, "probs")
    if num_splits < 1 or num_splits > p.shape[0]:
        raise ValueError(f"num_splits must be in [1, {p.shape[0]}], got {num_splits}")
    if np.any(p < 0):
        raise ValueError("probs must be non-negative")
    scores = []
    for part in np.array_split(p, num_splits, axis=0):
        marginal = part.mean(axis=0, keepdims=True)
        ratio = np.where(part > 0, part / np.where(marginal > 0, marginal, 1.0), 1.0)
        kl = np.sum(np.where(part > 0, part * np.log(ratio), 0.0), axis=1)
        scores.append(np.exp(kl.mean()))
    scores_arr = np.asarray(scores)
    return {"mean": float(scores_arr.mean()), "std": float(scores_arr.std())}


def _logsumexp_rows(x: np.ndarray) -> np.ndarray:
    top = np.max(x, axis=1, keepdims=True)
    return top[:, 0] + np.log(np.sum(np.exp(x - top), axis=1))


def parzen_log_likelihoods(
    samples: np.ndarray, test: np.ndarray, sigma: float, batch_size: int = 256
) -> np.ndarray:
    """Per-point Gaussian Parzen-window log-likelihoods of ``test``.

    The density is the mixture of isotropic Gaussians ``N(s_i, sigma^2 I)``
    centred on the ``n`` generated samples ``s_i``:
    ``log p(x) = logsumexp_i(-||x - s_i||^2 / (2 sigma^2)) - log n
    - (d/2) log(2 pi sigma^2)``. Test points are processed ``batch_size`` at a
    time, in float64 with a max-shifted logsumexp.
    """
    s = np.asarray(samples, dtype=np.float64)
    t = np.asarray(test, dtype=np.float64)
    if s.ndim != 2 or t.ndim != 2 or s.shape[1] != t.shape[1]:
        raise ValueError(f"samples and test must be (n, d) and (m, d), got {s.shape}, {t.shape}")
    if s.shape[0] < 1 or t.shape[0] < 1:
        raise ValueError("samples and test must be non-empty")
    sigma = float(sigma)
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n, d = s.shape
    const = -np.log(n) - 0.5 * d * np.log(2.0 * np.pi * sigma**2)
    s_sq = np.sum(s * s, axis=1)
    out = np.empty(t.shape[0], dtype=np.float64)
    for start in range(0, t.shape[0], batch_size):
        tb = t[start : start + batch_size]
        sq = np.sum(tb * tb, axis=1)[:, None] + s_sq[None, :] - 2.0 * (tb @ s.T)
        sq = np.clip(sq, 0.0, None)
        out[start : start + batch_size] = _logsumexp_rows(-sq / (2.0 * sigma**2)) + const
    return out


def parzen_log_likelihood(
    samples: np.ndarray, test: np.ndarray, sigma: float, batch_size: int = 256
) -> float:
    """Mean Gaussian Parzen-window log-likelihood of ``test`` under ``samples``.

    The estimator of Goodfellow et al. 2014 (GAN paper, Table 1), following
    Breuleux et al. 2011: fit a Parzen window with bandwidth ``sigma`` to the
    generated ``samples`` and report the mean log-likelihood of held-out
    ``test`` points (in nats). See :func:`parzen_log_likelihoods`.
    """
    return float(parzen_log_likelihoods(samples, test, sigma, batch_size).mean())


def select_parzen_sigma(
    samples: np.ndarray,
    validation: np.ndarray,
    sigmas: Sequence[float],
    batch_size: int = 256,
) -> dict[str, object]:
    """Choose the Parzen bandwidth by validation log-likelihood.

    The Goodfellow et al. 2014 protocol: the ``sigma`` of the Parzen window is
    chosen by cross-validation on a validation set, then the test
    log-likelihood is reported with that ``sigma``. Ties go to the first
    sigma in ``sigmas``.

    Returns:
      ``{"sigma": best sigma, "log_likelihood": its validation mean
      log-likelihood, "scores": [validation mean log-likelihood per sigma]}``.
    """
    sigmas = [float(s) for s in sigmas]
    if not sigmas:
        raise ValueError("sigmas must be non-empty")
    scores = [parzen_log_likelihood(samples, validation, s, batch_size) for s in sigmas]
    best = int(np.argmax(scores))
    return {"sigma": sigmas[best], "log_likelihood": scores[best], "scores": scores}
