"""Reference checks for gan_jax.eval.metrics on fixed, seeded feature arrays.

The reference comparisons run on two fixtures: seeded Gaussian features and the
stored LeNet features of tests/fixtures/lenet_features.npz (real MNIST test
images vs noisy ones, written by tests/fixtures/make_lenet_features.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import prdc
import pytest
import scipy.linalg
import scipy.stats

from gan_jax.eval import metrics

RTOL = 1e-5
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "lenet_features.npz"


@pytest.fixture(scope="module")
def feats():
    """Two deterministic 500 x 64 feature sets with different means and covariances."""
    rng = np.random.default_rng(20240505)
    n, d = 500, 64
    a = rng.normal(size=(n, d))
    mix = np.eye(d) + 0.3 * rng.normal(size=(d, d)) / np.sqrt(d)
    b = 0.9 * rng.normal(size=(n, d)) @ mix + 0.25
    return a, b


@pytest.fixture(scope="module")
def lenet():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module", params=["gaussian", "lenet"])
def ref_feats(request, feats, lenet):
    """Each reference comparison runs on both fixtures."""
    if request.param == "gaussian":
        return feats
    return lenet["real"].astype(np.float64), lenet["fake"].astype(np.float64)


def _scipy_frechet(a, b):
    """The pytorch-fid formula with scipy.linalg.sqrtm."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1.dot(s2))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


def test_frechet_distance_matches_scipy_sqrtm(ref_feats):
    a, b = ref_feats
    got = metrics.frechet_distance(a, b)
    assert isinstance(got, float)
    np.testing.assert_allclose(got, _scipy_frechet(a, b), rtol=RTOL)


def test_frechet_distance_of_a_set_with_itself_is_zero(feats):
    a, _ = feats
    assert abs(metrics.frechet_distance(a, a)) < 1e-8 * np.trace(np.cov(a, rowvar=False))


def test_frechet_distance_is_symmetric(feats):
    a, b = feats
    np.testing.assert_allclose(
        metrics.frechet_distance(a, b), metrics.frechet_distance(b, a), rtol=RTOL
    )


def _numpy_kid(a, b, num_subsets, subset_size, seed):
    """Straightforward loop-based unbiased MMD^2, same subset draws as the module."""
    rng = np.random.default_rng(seed)
    d = a.shape[1]
    m = subset_size
    vals = []
    for _ in range(num_subsets):
        x = a[rng.choice(a.shape[0], m, replace=False)]
        y = b[rng.choice(b.shape[0], m, replace=False)]
        kxx = kyy = kxy = 0.0
        for i in range(m):
            for j in range(m):
                kxy += (x[i] @ y[j] / d + 1) ** 3
                if i != j:
                    kxx += (x[i] @ x[j] / d + 1) ** 3
                    kyy += (y[i] @ y[j] / d + 1) ** 3
        vals.append(kxx / (m * (m - 1)) + kyy / (m * (m - 1)) - 2 * kxy / (m * m))
    return np.mean(vals), np.std(vals)


def test_kid_matches_numpy_unbiased_estimator(ref_feats):
    a, b = ref_feats
    got = metrics.kernel_inception_distance(a, b, num_subsets=4, subset_size=60, seed=3)
    mean, std = _numpy_kid(a, b, num_subsets=4, subset_size=60, seed=3)
    np.testing.assert_allclose(got["mean"], mean, rtol=RTOL)
    np.testing.assert_allclose(got["std"], std, rtol=RTOL)


def test_kid_is_near_zero_for_same_distribution_and_positive_otherwise(feats):
    a, b = feats
    rng = np.random.default_rng(1)
    a2 = rng.normal(size=a.shape)
    same = metrics.kernel_inception_distance(a, a2, num_subsets=10, subset_size=200, seed=0)
    diff = metrics.kernel_inception_distance(a, b, num_subsets=10, subset_size=200, seed=0)
    assert abs(same["mean"]) < 3 * same["std"] + 1e-3
    assert diff["mean"] > 10 * abs(same["mean"])


def test_prdc_matches_reference_package(ref_feats):
    a, b = ref_feats
    got = metrics.precision_recall_density_coverage(a, b, k=5)
    ref = prdc.compute_prdc(real_features=a, fake_features=b, nearest_k=5)
    for key in ("precision", "recall", "density", "coverage"):
        np.testing.assert_allclose(got[key], ref[key], rtol=RTOL, err_msg=key)
    # The fixture is not degenerate: values lie strictly between the extremes.
    assert 0 < got["precision"] < 1 and 0 < got["coverage"] < 1


def test_prdc_matches_reference_package_other_k(ref_feats):
    a, b = ref_feats
    a, b = a[:300, :16], b[:200, :16]
    got = metrics.precision_recall_density_coverage(a, b, k=3)
    ref = prdc.compute_prdc(real_features=a, fake_features=b, nearest_k=3)
    for key in ("precision", "recall", "density", "coverage"):
        np.testing.assert_allclose(got[key], ref[key], rtol=RTOL, err_msg=key)


def test_classifier_score_uniform_is_one():
    probs = np.full((120, 10), 0.1)
    got = metrics.classifier_score(probs, num_splits=4)
    np.testing.assert_allclose(got["mean"], 1.0, rtol=1e-12)
    assert got["std"] < 1e-12


@pytest.mark.parametrize("num_classes", [2, 10])
def test_classifier_score_even_one_hot_is_num_classes(num_classes):
    splits = 5
    labels = np.tile(np.arange(num_classes), 6 * splits)  # every split holds each class equally
    probs = np.eye(num_classes)[labels]
    got = metrics.classifier_score(probs, num_splits=splits)
    np.testing.assert_allclose(got["mean"], num_classes, rtol=1e-12)
    assert got["std"] < 1e-9


def test_parzen_single_point_is_gaussian_log_density():
    sigma = 0.7
    samples = np.full((5, 1), 1.5)  # all kernels on one point: the mixture is N(1.5, sigma^2)
    test = np.linspace(-2.0, 4.0, 37)[:, None]
    expected = -0.5 * np.log(2 * np.pi * sigma**2) - (test[:, 0] - 1.5) ** 2 / (2 * sigma**2)
    per_point = metrics.parzen_log_likelihoods(samples, test, sigma, batch_size=8)
    np.testing.assert_allclose(per_point, expected, rtol=1e-12)
    np.testing.assert_allclose(
        metrics.parzen_log_likelihood(samples, test, sigma, batch_size=5), expected.mean(),
        rtol=1e-12,
    )


def test_parzen_is_stable_far_from_samples():
    # exp(-d^2 / 2 sigma^2) underflows to 0 here; the logsumexp form must stay finite and exact.
    sigma = 0.01
    samples = np.array([[0.0], [0.0]])
    test = np.array([[5.0]])
    got = metrics.parzen_log_likelihood(samples, test, sigma)
    expected = -0.5 * np.log(2 * np.pi * sigma**2) - 25.0 / (2 * sigma**2)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_select_parzen_sigma_picks_validation_best():
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(400, 1))
    validation = rng.normal(size=(300, 1))
    sigmas = [0.01, 0.05, 0.2, 0.5, 2.0, 10.0]
    got = metrics.select_parzen_sigma(samples, validation, sigmas)
    scores = [metrics.parzen_log_likelihood(samples, validation, s) for s in sigmas]
    np.testing.assert_allclose(got["scores"], scores, rtol=1e-12)
    assert got["sigma"] == sigmas[int(np.argmax(scores))]
    assert got["log_likelihood"] == max(scores)
    # Extreme bandwidths lose on N(0, 1) data: the choice is an interior one.
    assert got["sigma"] not in (0.01, 10.0)


def test_frechet_distance_in_jax_float64_equals_numpy(ref_feats):
    a, b = ref_feats
    stats = (*metrics.gaussian_statistics(a), *metrics.gaussian_statistics(b))
    expected = metrics.frechet_distance_from_statistics(*stats)
    got = metrics.frechet_distance_from_statistics_jax(*stats)
    # LeNet covariances are singular (dead ReLU units): eigenvalues of 1e-14 from
    # round-off enter as sqrt(1e-14) = 1e-7, so two float64 eigh's agree to ~1e-8.
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_frechet_distance_in_jax_float32_fallback_is_close(ref_feats):
    a, b = ref_feats
    stats = (*metrics.gaussian_statistics(a), *metrics.gaussian_statistics(b))
    expected = metrics.frechet_distance_from_statistics(*stats)
    got = metrics.frechet_distance_from_statistics_jax(*stats, dtype="float32")
    # float32 round-off eigenvalues of ~eps * max eigenvalue enter as their square
    # roots; on the singular LeNet covariances this costs ~0.5% (measured 0.44%).
    np.testing.assert_allclose(got, expected, rtol=1e-2)


def test_classifier_score_matches_kl_formula_on_lenet_softmax(lenet):
    probs = lenet["fake_probs"].astype(np.float64)
    probs /= probs.sum(axis=1, keepdims=True)
    scores = []
    for part in np.array_split(probs, 3):
        marginal = part.mean(axis=0)
        scores.append(np.exp(np.mean(scipy.stats.entropy(part, marginal, axis=1))))
    got = metrics.classifier_score(probs, num_splits=3)
    np.testing.assert_allclose(got["mean"], np.mean(scores), rtol=RTOL)
    np.testing.assert_allclose(got["std"], np.std(scores), rtol=RTOL)
