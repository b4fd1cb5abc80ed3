"""GANState: the whole training state as one pytree, and how to create it.

Everything that changes during training lives here (step, both networks'
parameters and batch statistics, both optimizer states, the EMA of G's
parameters, the root key), so a step is a pure function ``state -> state`` and a
checkpoint is one pytree. What does not change (the modules, the optimizers,
the objective) lives in :class:`GAN`, a static description built from the
config.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax

from gan_jax import losses, models, penalties

PyTree = Any


@flax.struct.dataclass
class GANState:
    """One pytree holding a GAN's training state.

    Attributes:
      step: int32 scalar, number of completed train steps (G updates).
      g_params, d_params: parameters of the generator and discriminator.
      g_batch_stats, d_batch_stats: BatchNorm running statistics (empty dicts
        for models without batch norm).
      g_opt_state, d_opt_state: optax states of the two optimizers.
      ema_g_params: exponential moving average of ``g_params`` or ``None`` when
        ``config.ema_decay == 0``.
      rng: the root PRNG key (uint32[2]); per-step keys are folded from it,
        never split and carried.
    """

    step: jax.Array
    g_params: PyTree
    d_params: PyTree
    g_batch_stats: PyTree
    d_batch_stats: PyTree
    g_opt_state: PyTree
    d_opt_state: PyTree
    ema_g_params: PyTree | None
    rng: jax.Array


@flax.struct.dataclass
class GAN:
    """The static part of a GAN: modules, optimizers, objective and sizes.

    It is a pytree with no leaves, so it can be closed over by jitted code.
    """

    generator: Any = flax.struct.field(pytree_node=False)
    discriminator: Any = flax.struct.field(pytree_node=False)
    g_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
    d_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
    objective: losses.Objective = flax.struct.field(pytree_node=False)
    latent_dim: int = flax.struct.field(pytree_node=False)
    data_shape: tuple[int, ...] = flax.struct.field(pytree_node=False)
    n_disc: int = flax.struct.field(pytree_node=False)
    ema_decay: float = flax.struct.field(pytree_node=False)
    # Regularisers and training devices (gan_jax/penalties.py); the defaults turn them off.
    penalty: Callable = flax.struct.field(pytree_node=False, default=penalties.no_penalty)
    penalty_weight: float = flax.struct.field(pytree_node=False, default=0.0)
    clip_weights: float = flax.struct.field(pytree_node=False, default=0.0)
    instance_noise: float = flax.struct.field(pytree_node=False, default=0.0)
    instance_noise_steps: int = flax.struct.field(pytree_node=False, default=0)
    unroll_steps: int = flax.struct.field(pytree_node=False, default=0)


OPTIMIZERS = {
    "adam": lambda c: optax.adam(c.lr, b1=c.get("b1", 0.9), b2=c.get("b2", 0.999),
                                 eps_root=c.get("eps_root", 0.0)),
    "sgd": lambda c: optax.sgd(c.lr, momentum=c.get("momentum") or None),
    "rmsprop": lambda c: optax.rmsprop(c.lr, decay=c.get("decay", 0.9)),
}


def make_optimizer(opt_config: ml_collections.ConfigDict) -> optax.GradientTransformation:
    """Builds one optimizer from ``config.optim.g`` or ``config.optim.d``."""
    return OPTIMIZERS[opt_config.name](opt_config)


def make_gan(config: ml_collections.ConfigDict, data_shape: tuple[int, ...],
             axis_name: str | None = "data") -> GAN:
    """Builds the static GAN description from a (validated) config."""
    generator, discriminator = models.build_models(
        config.model, data_shape, axis_name, config.get("compute_dtype", "float32"))
    return GAN(
        generator=generator,
        discriminator=discriminator,
        g_tx=make_optimizer(config.optim.g),
        d_tx=make_optimizer(_unrollable(config.optim.d, config.get("unroll_steps", 0))),
        objective=losses.get_objective(config.loss),
        latent_dim=config.model.latent_dim,
        data_shape=tuple(data_shape),
        n_disc=config.n_disc,
        ema_decay=config.ema_decay,
        penalty=penalties.get_penalty(config.get("penalty", "none")),
        penalty_weight=float(config.get("penalty_weight", 0.0)),
        clip_weights=float(config.get("clip_weights", 0.0)),
        instance_noise=float(config.get("instance_noise", 0.0)),
        instance_noise_steps=int(config.get("instance_noise_steps", 0)),
        unroll_steps=int(config.get("unroll_steps", 0)),
    )


def _unrollable(opt_config: ml_collections.ConfigDict, unroll_steps: int):
    """D's optimizer config, made safe to differentiate through when G unrolls D.

    Adam divides by sqrt(nu); where a gradient is exactly 0 (biases in front of batch norm)
    nu stays 0 and the derivative of the square root there is infinite, so the unrolled G
    gradient would be NaN. A tiny eps_root inside the square root (optax's own device for
    meta-learning) keeps it finite and leaves the update unchanged to float precision.
    """
    if unroll_steps <= 0 or opt_config.name != "adam" or "eps_root" in opt_config:
        return opt_config
    return ml_collections.ConfigDict({**opt_config.to_dict(), "eps_root": 1e-16})


def init_state(gan: GAN, seed: int) -> GANState:
    """Initialises parameters, batch statistics and optimizer states.

    Initialisation runs the modules with ``train=False`` so no mapped axis is
    needed; the same seed gives the same state on every host.
    """
    root = jax.random.PRNGKey(seed)
    g_key, d_key = jax.random.split(jax.random.fold_in(root, 0x1A17))
    z = jnp.zeros((1, gan.latent_dim), jnp.float32)
    x = jnp.zeros((1, *gan.data_shape), jnp.float32)
    g_vars = gan.generator.init(g_key, z, train=False)
    d_vars = gan.discriminator.init(d_key, x, train=False)
    g_params, d_params = g_vars["params"], d_vars["params"]
    return GANState(
        step=jnp.zeros((), jnp.int32),
        g_params=g_params,
        d_params=d_params,
        g_batch_stats=g_vars.get("batch_stats", {}),
        d_batch_stats=d_vars.get("batch_stats", {}),
        g_opt_state=gan.g_tx.init(g_params),
        d_opt_state=gan.d_tx.init(d_params),
        ema_g_params=g_params if gan.ema_decay > 0 else None,
        rng=root,
    )


def sampling_params(state: GANState) -> PyTree:
    """The generator parameters to draw samples with: the EMA when kept."""
    return state.ema_g_params if state.ema_g_params is not None else state.g_params


def param_count(params: PyTree) -> int:
    return sum(int(x.size) for x in jax.tree.leaves(params))
