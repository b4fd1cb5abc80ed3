"""Toy distributions as pure JAX samplers, drawn inside the jitted train step.

Every toy here is an isotropic Gaussian mixture (:class:`Mixture`, a pytree of
three arrays). A sampler draws ONE example from its own key; the step vmaps it
over per-example keys, so toy runs never leave the device and the samples do
not depend on how the batch is split over devices.

- ``ring8``: 8 modes evenly spaced on a circle of radius 1, std 0.01. The ring
  of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018); those papers
  use radius 2 and std 0.02, this project fixes the same shape at half scale.
- ``grid25``: 25 modes at {-4, -2, 0, 2, 4}^2, std 0.05 (same papers).
- ``gauss1d``: a 1-D mixture given by ``means``, ``stds`` and ``weights``
  (Goodfellow et al. 2014, Fig. 1 draws a single Gaussian).

``make_mixture(config.data)`` builds the one that ``config.data.name`` names;
bad values stop with a one-line ``ValueError`` naming the config field.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Mixture(NamedTuple):
    """An isotropic Gaussian mixture in d dimensions: sum_k w_k N(mu_k, s_k^2 I)."""

    means: jax.Array    # [K, d] float32
    stds: jax.Array     # [K] float32, > 0
    weights: jax.Array  # [K] float32, >= 0, sums to 1


def _mixture(means, stds, weights=None) -> Mixture:
    """Builds a Mixture from host values; ``stds`` may be a scalar, ``weights`` unnormalised."""
    means = np.asarray(means, np.float32)
    k = means.shape[0]
    stds = np.broadcast_to(np.asarray(stds, np.float32), (k,))
    weights = np.full((k,), 1.0 / k) if weights is None else np.asarray(weights, np.float64)
    return Mixture(jnp.asarray(means), jnp.asarray(stds),
                   jnp.asarray(weights / weights.sum(), jnp.float32))


def sample_with_component(mixture: Mixture, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One example [d] float32 and the index of its component (int32 []); pure."""
    k_component, k_noise = jax.random.split(key)
    # log(0) = -inf gives a zero-weight component probability exactly 0.
    i = jax.random.categorical(k_component, jnp.log(mixture.weights))
    noise = jax.random.normal(k_noise, mixture.means.shape[1:], jnp.float32)
    return mixture.means[i] + mixture.stds[i] * noise, i.astype(jnp.int32)


def sample(mixture: Mixture, key: jax.Array) -> jax.Array:
    """One example [d] float32; pure, so it can be vmapped and jitted."""
    return sample_with_component(mixture, key)[0]


def sample_batch(mixture: Mixture, key: jax.Array, n: int) -> jax.Array:
    """``n`` examples [n, d] float32, example i drawn from ``split(key, n)[i]``."""
    return jax.vmap(lambda k: sample(mixture, k))(jax.random.split(key, n))


def log_density(mixture: Mixture, x: jax.Array) -> jax.Array:
    """log p(x) [N] float32 for x [N, d]; a logsumexp over components, so far tails stay finite."""
    x = jnp.asarray(x, jnp.float32)
    d = mixture.means.shape[1]
    sq = jnp.sum((x[:, None, :] - mixture.means[None]) ** 2, axis=-1)      # [N, K]
    var = mixture.stds ** 2
    log_comp = -0.5 * sq / var - 0.5 * d * jnp.log(2 * jnp.pi * var)
    return jax.scipy.special.logsumexp(log_comp + jnp.log(mixture.weights), axis=-1)


def ring(n_modes: int = 8, radius: float = 1.0, std: float = 0.01) -> Mixture:
    """Equal-weight modes at radius * (cos 2 pi k / n, sin 2 pi k / n), k = 0 .. n-1; d = 2."""
    angles = 2 * np.pi * np.arange(n_modes) / n_modes
    return _mixture(radius * np.stack([np.cos(angles), np.sin(angles)], -1), std)


def grid(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> Mixture:
    """side^2 equal-weight modes on a square grid centred at 0 ({-4, -2, 0, 2, 4}^2 by default)."""
    ticks = (np.arange(side) - (side - 1) / 2) * spacing
    return _mixture(np.stack(np.meshgrid(ticks, ticks, indexing="ij"), -1).reshape(-1, 2), std)


def _vector(value, field: str) -> np.ndarray:
    """A config entry as a 1-D float array; a bare number is a list of one."""
    try:
        array = np.atleast_1d(np.asarray(value, np.float64))
    except (TypeError, ValueError):
        array = None
    if array is None or array.ndim != 1 or array.size == 0 or not np.all(np.isfinite(array)):
        raise ValueError(
            f"config.data.{field}={value!r} must be a non-empty list of finite numbers")
    return array


def gaussian_mixture_1d(means, stds, weights=None) -> Mixture:
    """A 1-D mixture (d = 1); ``weights`` default to equal and are renormalised to sum 1."""
    means, stds = _vector(means, "means"), _vector(stds, "stds")
    if weights is not None:
        weights = _vector(weights, "weights")
    if len(stds) != len(means) or (weights is not None and len(weights) != len(means)):
        raise ValueError(
            f"config.data.means ({len(means)}), config.data.stds ({len(stds)}) and "
            f"config.data.weights ({'unset' if weights is None else len(weights)}) "
            "must have the same length")
    if np.any(stds <= 0):
        raise ValueError(f"config.data.stds={tuple(stds.tolist())} must all be positive")
    if weights is not None and (np.any(weights < 0) or weights.sum() <= 0):
        raise ValueError(f"config.data.weights={tuple(weights.tolist())} must be >= 0 "
                         "with a positive sum")
    return _mixture(means[:, None], stds, weights)


def _positive(data_config, field: str, default: float) -> float:
    value = data_config.get(field, default)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < np.inf:
        raise ValueError(f"config.data.{field}={value!r} must be positive (a finite number)")
    return float(value)


SYNTHETIC: dict[str, Callable[..., Mixture]] = {
    "ring8": lambda c: ring(8, _positive(c, "radius", 1.0), _positive(c, "std", 0.01)),
    "grid25": lambda c: grid(5, 2.0, _positive(c, "std", 0.05)),
    "gauss1d": lambda c: gaussian_mixture_1d(c.get("means", (2.0,)), c.get("stds", (0.5,)),
                                             c.get("weights", None)),
}


def make_mixture(data_config) -> Mixture:
    """The mixture ``config.data`` (a ConfigDict with ``name``) describes."""
    if data_config.name not in SYNTHETIC:
        raise ValueError(f"unknown synthetic dataset {data_config.name!r} (config.data.name); "
                         "allowed: " + ", ".join(sorted(SYNTHETIC)))
    return SYNTHETIC[data_config.name](data_config)


class ToySource:
    """A toy mixture as a data source (``gan_jax.data``): drawn inside the step.

    An example is ``{"image": x [d] float32, "label": k int32 []}``, k the index of the
    mixture component that drew x, so conditional models can be trained on toys.
    """

    in_step = True

    def __init__(self, data_config):
        from gan_jax.data import Spec

        self.name = data_config.name
        self.mixture = make_mixture(data_config)
        k, d = self.mixture.means.shape
        self.spec = Spec(shape=(int(d),), value_range=None, num_classes=int(k))

    def sample(self, key: jax.Array) -> dict[str, jax.Array]:
        x, k = sample_with_component(self.mixture, key)
        return {"image": x, "label": k}

    def class_frequencies(self) -> np.ndarray:
        return np.asarray(self.mixture.weights, np.float64)
