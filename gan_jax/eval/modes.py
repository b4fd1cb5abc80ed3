"""Mode statistics of samples from a toy mixture (the VEEGAN / PacGAN protocol).

A sample is *high quality* when it lies within ``n_std`` (3) standard
deviations of its nearest mode. A mode is *captured* when it receives at least
``min_count`` high-quality samples (Srivastava et al. 2017 and Lin et al. 2018
evaluate 2,500 samples; PacGAN counts a mode as lost below 20 of them, which is
the default here). ``reverse_kl`` is KL(q || uniform) of the histogram q of
high-quality samples over the modes: 0 for a perfect spread, log K for one mode.
"""

from __future__ import annotations

import numpy as np


def mode_stats(samples, mixture, n_std: float = 3.0, min_count: int = 20) -> dict[str, float]:
    """Returns ``modes_captured``, ``high_quality`` and ``reverse_kl`` for samples [N, d]."""
    x = np.asarray(samples, np.float64)
    means = np.asarray(mixture.means, np.float64)
    stds = np.asarray(mixture.stds, np.float64)
    dist = np.sqrt(((x[:, None, :] - means[None]) ** 2).sum(-1))        # [N, K]
    nearest = dist.argmin(1)
    good = dist[np.arange(len(x)), nearest] <= n_std * stds[nearest]
    counts = np.bincount(nearest[good], minlength=len(means))
    k = len(means)
    q = counts / max(counts.sum(), 1)
    nz = q > 0
    reverse_kl = float(np.sum(q[nz] * np.log(q[nz] * k))) if counts.sum() else float(np.log(k))
    return {"modes_captured": float((counts >= min_count).sum()),
            "high_quality": float(good.mean()) if len(x) else 0.0,
            "reverse_kl": reverse_kl}
