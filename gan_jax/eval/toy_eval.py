"""Evaluation of generated samples from a toy mixture (ring8, grid25, gauss1d).

The counterpart of ``gan_jax.eval.image_eval.ImageEvaluator`` for the synthetic
data: the same call (samples in, a dict of floats out) and a ``reference_key``
naming what the numbers are measured against.

- Mode statistics of gan_jax/eval/modes.py (modes captured, high-quality share,
  reverse KL; Srivastava et al. 2017, Lin et al. 2018). The reference is the
  mixture itself, exactly, so no real samples are drawn for them.
- For 1-D mixtures also the Parzen-window log-likelihood (Goodfellow et al. 2014,
  Table 1): the window's bandwidth is chosen on real validation samples from a grid
  relative to the data's spread, and the mean log-likelihood of real test samples
  is reported with it. Parzen estimates are a poor guide to sample quality (Theis
  et al. 2016, "A note on the evaluation of generative models"); here, a generator
  collapsed near the mean of a single Gaussian scores close to an exact one once the
  window is as wide as the data. Validation and test samples come from fixed keys, so every
  evaluation of every run of the same mixture uses the same points.
"""

from __future__ import annotations

import hashlib

import jax
import numpy as np

from gan_jax.data import synthetic
from gan_jax.eval import metrics, modes

# Real points of the Parzen protocol's validation and test sets. Each bandwidth tried
# costs a pass over the validation set, so it is the smaller one.
PARZEN_VALIDATION, PARZEN_TEST = 1000, 2500
# Bandwidths tried, as multiples of the real validation samples' standard deviation.
PARZEN_SIGMA_GRID = tuple(float(s) for s in np.logspace(-2.0, 0.0, 7))
_VALIDATION_KEY, _TEST_KEY = 0x7A11, 0x7E57

_PROTOCOL = "VEEGAN/PacGAN protocol: 2,500 samples, high quality within 3 std of a mode"
METRICS = (
    metrics.Metric("modes_captured", True, "modes captured", definition=(
        f"modes with at least one high-quality sample ({_PROTOCOL})")),
    metrics.Metric("high_quality", True, "high-quality share", definition=(
        f"share of samples within 3 std of their nearest mode ({_PROTOCOL})")),
    metrics.Metric("reverse_kl", False, "reverse KL", definition=(
        "KL(q ‖ uniform), q the histogram of high-quality samples over the modes (PacGAN's "
        "reverse KL)")),
)
# 1-D mixtures add the Parzen protocol; parzen_sigma is reported, not ranked.
PARZEN_METRICS = (metrics.Metric("parzen_ll", True, "Parzen log-likelihood", definition=(
    "1-D toys: Parzen-window log-likelihood of real test points, the bandwidth chosen on a "
    "validation set (Goodfellow et al. 2014, Table 1 protocol)")),)
PARZEN_REPORTED = (metrics.Metric("parzen_sigma", False, "Parzen sigma", definition=(
    "the bandwidth the Parzen protocol chose")),)


def metrics_of(dim: int) -> tuple[metrics.Metric, ...]:
    """The rankable metrics of toy data in ``dim`` dimensions."""
    return METRICS + (PARZEN_METRICS if dim == 1 else ())


def mixture_digest(mixture: synthetic.Mixture) -> str:
    """8 hex digits identifying a mixture's means, stds and weights (float32 bytes)."""
    h = hashlib.sha1()
    for part in mixture:
        h.update(np.asarray(part, np.float32).tobytes())
    return h.hexdigest()[:8]


class ToyEvaluator:
    """Scores ``num_samples`` generated points from the mixture ``config.data`` names.

    ``reference_key`` is ``NAME/mixture-DIGEST/SAMPLES`` plus, for 1-D mixtures,
    ``/parzen-val1000-test2500``: the dataset, the exact mixture, the number of
    generated samples each number is computed from, and the real point sets.
    """

    def __init__(self, data_config, num_samples: int):
        self.mixture = synthetic.make_mixture(data_config)
        self.num_samples = int(num_samples)
        self.dim = int(self.mixture.means.shape[1])
        key = f"{data_config.name}/mixture-{mixture_digest(self.mixture)}/n{self.num_samples}"
        self._validation = self._test = None
        if self.dim == 1:
            root = jax.random.PRNGKey(0)
            self._validation = np.asarray(synthetic.sample_batch(
                self.mixture, jax.random.fold_in(root, _VALIDATION_KEY), PARZEN_VALIDATION))
            self._test = np.asarray(synthetic.sample_batch(
                self.mixture, jax.random.fold_in(root, _TEST_KEY), PARZEN_TEST))
            key += f"/parzen-val{PARZEN_VALIDATION}-test{PARZEN_TEST}"
        self.reference_key = key

    def __call__(self, samples) -> dict[str, float]:
        """Samples [N, d] (N = num_samples) -> ``modes_captured``, ``high_quality``,
        ``reverse_kl`` and, for d = 1, ``parzen_ll`` (nats per test point) and
        ``parzen_sigma`` (the bandwidth chosen on the validation set)."""
        x = np.asarray(samples, np.float64)
        if x.shape != (self.num_samples, self.dim):
            raise ValueError(f"samples of shape {x.shape}; expected "
                             f"({self.num_samples}, {self.dim})")
        out = dict(modes.mode_stats(x, self.mixture))
        if self.dim == 1:
            if np.all(np.isfinite(x)):
                scale = float(np.std(self._validation))
                chosen = metrics.select_parzen_sigma(
                    x, self._validation, [scale * s for s in PARZEN_SIGMA_GRID])
                out["parzen_ll"] = metrics.parzen_log_likelihood(x, self._test, chosen["sigma"])
                out["parzen_sigma"] = float(chosen["sigma"])
            else:  # a diverged generator has no density
                out["parzen_ll"] = out["parzen_sigma"] = float("nan")
        return {k: float(v) for k, v in out.items()}
