"""Toy distributions as pure JAX samplers, drawn inside the jitted train step.

Every toy here is an isotropic Gaussian mixture (:class:`Mixture`). A sampler
draws ONE example from its own key; the step vmaps it over per-example keys, so
toy runs never leave the device and do not depend on the device count.

- ``ring8``: 8 modes on a circle of radius 1, std 0.01 (the ring of VEEGAN,
  Srivastava et al. 2017, and PacGAN, Lin et al. 2018, at the scale this project
  fixes).
- ``grid25``: 25 modes at {-4, -2, 0, 2, 4}^2, std 0.05 (same papers).
- ``gauss1d``: a 1-D mixture given by ``means``, ``stds`` and ``weights``
  (Goodfellow et al. 2014, Fig. 1 uses a single Gaussian).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Mixture(NamedTuple):
    """An isotropic Gaussian mixture in d dimensions."""

    means: jax.Array    # [K, d] float32
    stds: jax.Array     # [K] float32
    weights: jax.Array  # [K] float32, sums to 1


def _mixture(means, stds, weights=None) -> Mixture:
    means = jnp.asarray(means, jnp.float32)
    k = means.shape[0]
    stds = jnp.broadcast_to(jnp.asarray(stds, jnp.float32), (k,))
    weights = jnp.full((k,), 1.0 / k) if weights is None else jnp.asarray(weights, jnp.float32)
    return Mixture(means, stds, weights / jnp.sum(weights))


def sample(mixture: Mixture, key: jax.Array) -> jax.Array:
    """One example [d] from the mixture."""
    k_component, k_noise = jax.random.split(key)
    i = jax.random.categorical(k_component, jnp.log(mixture.weights))
    noise = jax.random.normal(k_noise, mixture.means.shape[1:], jnp.float32)
    return mixture.means[i] + mixture.stds[i] * noise


def sample_batch(mixture: Mixture, key: jax.Array, n: int) -> jax.Array:
    """``n`` examples [n, d], one per split key."""
    return jax.vmap(lambda k: sample(mixture, k))(jax.random.split(key, n))


def log_density(mixture: Mixture, x: jax.Array) -> jax.Array:
    """log p(x) [N] for x [N, d]."""
    x = jnp.asarray(x, jnp.float32)
    d = mixture.means.shape[1]
    sq = jnp.sum((x[:, None, :] - mixture.means[None]) ** 2, axis=-1)      # [N, K]
    var = mixture.stds ** 2
    log_comp = -0.5 * sq / var - 0.5 * d * jnp.log(2 * jnp.pi * var)
    return jax.scipy.special.logsumexp(log_comp + jnp.log(mixture.weights), axis=-1)


def ring(n_modes: int = 8, radius: float = 1.0, std: float = 0.01) -> Mixture:
    angles = 2 * np.pi * np.arange(n_modes) / n_modes
    return _mixture(radius * np.stack([np.cos(angles), np.sin(angles)], -1), std)


def grid(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> Mixture:
    ticks = (np.arange(side) - (side - 1) / 2) * spacing
    return _mixture(np.stack(np.meshgrid(ticks, ticks, indexing="ij"), -1).reshape(-1, 2), std)


def gaussian_mixture_1d(means, stds, weights=None) -> Mixture:
    means, stds = tuple(means), tuple(stds)
    if len(stds) != len(means) or (weights is not None and len(weights) != len(means)):
        raise ValueError(f"config.data.means ({len(means)}), config.data.stds ({len(stds)}) "
                         "and config.data.weights must have the same length")
    if min(stds) <= 0:
        raise ValueError(f"config.data.stds={stds} must all be positive")
    return _mixture(np.asarray(means)[:, None], stds, weights)


def _positive_std(data_config) -> float:
    std = data_config.get("std", 0.01)
    if not std > 0:
        raise ValueError(f"config.data.std={std!r} must be positive")
    return std


SYNTHETIC: dict[str, Callable] = {
    "ring8": lambda c: ring(8, c.get("radius", 1.0), _positive_std(c)),
    "grid25": lambda c: grid(5, 2.0, _positive_std(c)),
    "gauss1d": lambda c: gaussian_mixture_1d(c.get("means", (2.0,)), c.get("stds", (0.5,)),
                                             c.get("weights", None)),
}


def is_synthetic(name: str) -> bool:
    return name in SYNTHETIC


def make_mixture(data_config) -> Mixture:
    """The mixture ``config.data`` names."""
    if data_config.name not in SYNTHETIC:
        raise ValueError(f"unknown synthetic dataset {data_config.name!r} (config.data.name); "
                         "allowed: " + ", ".join(sorted(SYNTHETIC)))
    return SYNTHETIC[data_config.name](data_config)
