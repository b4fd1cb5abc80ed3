"""Shared pieces of the small reproductions: training D alone against fixed distributions,
and quadrature of divergences between 1-D densities.

Several reproductions need the *inner* maximisation of a GAN objective on its own: a
discriminator trained against a fixed pair (p_data, p_G), its value read off afterwards.
:func:`train_discriminators` does this for a whole family of pairs at once: one network per
pair, ``jax.vmap``-ed over the family and ``lax.scan``-ned over the steps, so a family costs
one compilation. The loss is always an entry of :data:`gan_jax.losses.LOSSES` and the
optional regulariser an entry of :data:`gan_jax.penalties.PENALTIES`, the same functions the
training step uses; the network is :class:`gan_jax.models.mlp.MLPDiscriminator`.

Densities here are float64 NumPy functions of x [N] -> [N]; expectations of a network's
output are taken on a grid against the density (deterministic, no sampling noise), so the
value of the objective at a trained D is exact for that D.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy import integrate

from gan_jax import losses, penalties
from gan_jax.models.mlp import MLPDiscriminator

LOG4 = math.log(4.0)
# (pair parameters, key, n) -> (real [n, d], fake [n, d]): one pair's samples, pure JAX.
PairSampler = Callable[[Any, jax.Array, int], tuple[jax.Array, jax.Array]]


def normal_pdf(x: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    """N(mu, sigma^2) density at x [N] (float64)."""
    x = np.asarray(x, np.float64)
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2.0 * math.pi))


def mixture_pdf(x: np.ndarray, means, stds, weights) -> np.ndarray:
    """sum_k w_k N(x; m_k, s_k^2) at x [N] (float64)."""
    return sum(w * normal_pdf(x, m, s) for m, s, w in zip(means, stds, weights, strict=True))


def jsd(p: Callable[[np.ndarray], np.ndarray], q: Callable[[np.ndarray], np.ndarray],
        lo: float, hi: float) -> float:
    """JSD(p || q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q)/2, in nats, by adaptive
    quadrature (scipy.integrate.quad) over [lo, hi], which must hold both densities' mass.

    0 for p = q, log 2 for disjoint supports (Goodfellow et al. 2014, Theorem 1 uses it as
    C(G) = -log 4 + 2 JSD(p_data || p_G)).
    """
    def integrand(x: float) -> float:
        a, b = float(p(np.array([x]))[0]), float(q(np.array([x]))[0])
        m = 0.5 * (a + b)
        return 0.5 * ((a * math.log(a / m) if a > 0 else 0.0)
                      + (b * math.log(b / m) if b > 0 else 0.0))

    value, _ = integrate.quad(integrand, lo, hi, limit=500, epsabs=1e-11, epsrel=1e-10)
    return value


def discriminator(hidden: int = 64, depth: int = 2) -> MLPDiscriminator:
    """The MLP discriminator of the toys: x [B, d] -> raw score [B]."""
    return MLPDiscriminator(hidden=hidden, depth=depth)


def _uniform(key: jax.Array, batch: int) -> penalties.Uniform:
    """A penalty's ``uniform(purpose, shape) -> [batch, *shape]`` from one key."""
    def uniform(purpose: int, shape: tuple[int, ...]) -> jax.Array:
        return jax.random.uniform(jax.random.fold_in(key, purpose), (batch, *shape))
    return uniform


def train_discriminators(loss: str, sample: PairSampler, pairs: Any, *, steps: int,
                         batch: int = 256, lr: float = 1e-3, hidden: int = 64, depth: int = 2,
                         penalty: str = "none", penalty_weight: float = 0.0,
                         seed: int = 0) -> tuple[MLPDiscriminator, Any]:
    """Trains one D per pair of ``pairs`` (a pytree with a leading axis of P pairs) with Adam.

    D minimises ``LOSSES[loss].d_loss(D(real), D(fake)) + penalty_weight * penalty`` on fresh
    samples ``sample(pair, key, batch)`` every step, G being fixed. Returns the module and
    its parameters stacked over the P pairs (leading axis P).
    """
    objective = losses.get_objective(loss)
    regulariser = penalties.get_penalty(penalty)
    module = discriminator(hidden, depth)
    tx = optax.adam(lr)
    n_pairs = jax.tree.leaves(pairs)[0].shape[0]
    d = jax.eval_shape(lambda: sample(jax.tree.map(lambda a: a[0], pairs),
                                      jax.random.PRNGKey(0), 1))[0].shape[1]

    def init(key):
        params = module.init(key, jnp.zeros((1, d), jnp.float32))["params"]
        return params, tx.init(params)

    def loss_fn(params, real, fake, key):
        def d_fn(x):
            return module.apply({"params": params}, x)
        total = objective.d_loss(d_fn(real), d_fn(fake))
        if penalty != "none":
            total = total + penalty_weight * regulariser(d_fn, real, fake, _uniform(key, batch))
        return total

    def one_pair(pair, key):
        params, opt_state = init(jax.random.fold_in(key, 0))

        def step(carry, t):
            params, opt_state = carry
            k = jax.random.fold_in(jax.random.fold_in(key, 1), t)
            real, fake = sample(pair, jax.random.fold_in(k, 0), batch)
            grads = jax.grad(loss_fn)(params, real, fake, jax.random.fold_in(k, 1))
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), None

        (params, _), _ = jax.lax.scan(step, (params, opt_state), jnp.arange(steps))
        return params

    keys = jax.random.split(jax.random.PRNGKey(seed), n_pairs)
    params = jax.jit(jax.vmap(one_pair))(pairs, keys)
    return module, params


@functools.cache
def _batched_apply(module: MLPDiscriminator, shared_points: bool) -> Callable:
    """One jitted (params [P, ...], x) -> scores [P, N] per module, compiled once per shape."""
    def apply(params, x):
        return module.apply({"params": params}, x)
    return jax.jit(jax.vmap(apply, in_axes=(0, None if shared_points else 0)))


def scores(module: MLPDiscriminator, params: Any, x: np.ndarray) -> np.ndarray:
    """Raw scores [P, N] of P stacked discriminators at x: [N, d] shared, or [P, N, d] each
    at its own points."""
    x = np.asarray(x, np.float32)
    return np.asarray(_batched_apply(module, x.ndim == 2)(params, jnp.asarray(x)), np.float64)


def grid_mean(values: np.ndarray, density: np.ndarray, x: np.ndarray) -> np.ndarray:
    """E_p[values] = integral of values * p over the grid x [N] (Simpson), over the last axis.

    ``values`` [..., N] (e.g. log D for several discriminators), ``density`` [..., N] or [N].
    """
    return integrate.simpson(values * density, x=x, axis=-1)


def value_of_d(logits_data: np.ndarray, logits_g: np.ndarray, p_data: np.ndarray,
               p_g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """V(D, G) = E_data[log D] + E_G[log(1 - D)] by quadrature on the grid x [N].

    ``logits_*`` [..., N] are D's raw scores at x (the same array twice in 1-D); the logs are
    the library's own (:func:`gan_jax.losses.value_function` per point). At the optimal D it
    equals -log 4 + 2 JSD(p_data || p_G) (Goodfellow et al. 2014, Theorem 1); any other D
    scores less.
    """
    log_d = np.asarray(jax.nn.log_sigmoid(jnp.asarray(logits_data)), np.float64)
    log_1md = np.asarray(jax.nn.log_sigmoid(-jnp.asarray(logits_g)), np.float64)
    return grid_mean(log_d, p_data, x) + grid_mean(log_1md, p_g, x)
