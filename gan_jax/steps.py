"""Pure per-device step functions and the wrapper that runs them on all devices.

The step functions are written the way a ``jax.pmap`` step is: each sees its
device's slice of the batch and averages gradients, batch statistics and
metrics with ``lax.pmean`` over the axis ``"data"``. :func:`parallelize` maps
them with ``jax.shard_map`` over a one-axis mesh of every device (all hosts),
inside ``jax.jit``, with the state replicated and donated and the batch
sharded. One device is the same code with a mesh of size one.

``shard_map`` runs with ``check_vma=False``: with the default checking,
autodiff already sums the gradient of a replicated parameter over devices and
a pmap-style ``pmean`` of the gradients would then give N times the mean.
With ``check_vma=False`` the semantics are pmap's exactly.

Randomness: the key of step ``t`` is ``fold_in(root, t)``; each use within a
step folds in a purpose id, and every latent vector or toy sample folds in its
*global example index*, so a run draws the same numbers on 1 device or on N
(see docs/design.md).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from gan_jax import penalties
from gan_jax.state import GAN, GANState

AXIS = "data"
Metrics = dict[str, jax.Array]
# Sampler of one real example from its own key, e.g. a toy mixture.
ExampleSampler = Callable[[jax.Array], jax.Array]

# Purpose ids folded into the step key, so that no two uses share bits.
_LATENT_D, _REAL_D, _LATENT_G, _AUX_D, _AUX_G = 0, 1, 2, 3, 4
# Purpose ids folded into the auxiliary key of one D or G step.
_NOISE_REAL, _NOISE_FAKE, _PENALTY, _UNROLL_LATENT, _UNROLL_UPDATE = 0, 1, 2, 3, 4


def _purpose_key(step_key: jax.Array, purpose: int, k: int = 0) -> jax.Array:
    return jax.random.fold_in(jax.random.fold_in(step_key, purpose), k)


def global_example_index(local_batch: int) -> jax.Array:
    """Global indices [local_batch] of this device's examples in the batch."""
    return lax.axis_index(AXIS) * local_batch + jnp.arange(local_batch)


def per_example_draw(key: jax.Array, local_batch: int, draw: ExampleSampler) -> jax.Array:
    """Draws ``draw(fold_in(key, i))`` for this device's global example indices i."""
    keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, global_example_index(local_batch))
    return jax.vmap(draw)(keys)


def latent_batch(key: jax.Array, local_batch: int, latent_dim: int) -> jax.Array:
    """Standard-normal latents [local_batch, latent_dim] for this device."""
    return per_example_draw(
        key, local_batch, lambda k: jax.random.normal(k, (latent_dim,), jnp.float32))


def device_mean(tree: Any) -> Any:
    """``lax.pmean(tree, "data")``; on a one-device mesh ``tree`` itself, since XLA:CPU
    copies every array through an all-reduce even when it has a single participant."""
    return tree if lax.axis_size(AXIS) == 1 else lax.pmean(tree, AXIS)


def _apply(module, params, batch_stats, x, train: bool = True):
    """Runs a module in train mode; returns (output, new batch statistics)."""
    out, updates = module.apply(
        {"params": params, "batch_stats": batch_stats}, x, train=train, mutable=["batch_stats"])
    return out, updates.get("batch_stats", batch_stats)


def _aux_key(key: jax.Array, aux_key: jax.Array | None) -> jax.Array:
    # Direct callers of d_step/g_step may pass one key; train_step passes both.
    return _purpose_key(key, _AUX_D) if aux_key is None else aux_key


def _noisy(gan: GAN, x: jax.Array, key: jax.Array, step: jax.Array) -> jax.Array:
    """``x`` plus annealed Gaussian instance noise, one stream per example; ``x`` when off."""
    if gan.instance_noise <= 0:
        return x
    std = penalties.instance_noise_std(step, gan.instance_noise, gan.instance_noise_steps)
    noise = per_example_draw(key, x.shape[0],
                             lambda k: jax.random.normal(k, x.shape[1:], x.dtype))
    return x + std.astype(x.dtype) * noise


def _uniform_draws(key: jax.Array, local_batch: int) -> penalties.Uniform:
    """The ``uniform(purpose, shape)`` of a penalty: U[0, 1) per global example index."""
    def uniform(purpose: int, shape: tuple[int, ...]) -> jax.Array:
        return per_example_draw(jax.random.fold_in(key, purpose), local_batch,
                                lambda k: jax.random.uniform(k, shape, jnp.float32))
    return uniform


def d_loss_terms(gan: GAN, d_params, d_batch_stats, real: jax.Array, fake: jax.Array,
                 aux_key: jax.Array, step: jax.Array):
    """D's regularised loss on one device: ``d_loss + penalty_weight * penalty``.

    Instance noise (if any) is added to both inputs first. Returns ``(total, (batch_stats,
    real_logits, fake_logits, d_loss, penalty))``; the penalty's own forward pass of D does
    not change the batch statistics.
    """
    real = _noisy(gan, real, jax.random.fold_in(aux_key, _NOISE_REAL), step)
    fake = _noisy(gan, fake, jax.random.fold_in(aux_key, _NOISE_FAKE), step)
    real_logits, stats = _apply(gan.discriminator, d_params, d_batch_stats, real)
    fake_logits, stats = _apply(gan.discriminator, d_params, stats, fake)
    loss = gan.objective.d_loss(real_logits, fake_logits)
    penalty = jnp.zeros((), loss.dtype)
    if gan.penalty is not penalties.no_penalty:
        def d_fn(x):
            return _apply(gan.discriminator, d_params, stats, x)[0]

        penalty = gan.penalty(d_fn, real, fake,
                              _uniform_draws(jax.random.fold_in(aux_key, _PENALTY),
                                             real.shape[0]), axis_name=AXIS)
    total = loss + gan.penalty_weight * penalty
    return total, (stats, real_logits, fake_logits, loss, penalty)


def _d_update(gan: GAN, d_params, d_opt_state, d_batch_stats, real, fake, aux_key, step):
    """One optimizer step of D (gradients averaged over devices, then weight clipping).

    Differentiable in ``fake``, so the unrolled G step can look through it.
    Returns ``(d_params, d_opt_state, batch_stats, grads, aux of d_loss_terms)``.
    """
    (_, aux), grads = jax.value_and_grad(d_loss_terms, argnums=1, has_aux=True)(
        gan, d_params, d_batch_stats, real, fake, aux_key, step)
    grads = device_mean(grads)
    updates, d_opt_state = gan.d_tx.update(grads, d_opt_state, d_params)
    d_params = penalties.clip_weights(optax.apply_updates(d_params, updates), gan.clip_weights)
    return d_params, d_opt_state, aux[0], grads, aux


def d_step(gan: GAN, state: GANState, real: jax.Array, key: jax.Array,
           aux_key: jax.Array | None = None) -> tuple[GANState, Metrics]:
    """One discriminator update with G fixed (the seed's Step 1).

    The loss is ``d_loss`` plus the weighted penalty, on inputs with instance noise; after
    the update D's parameters are clipped (each only when configured).

    Args:
      real: this device's real examples [B_local, *data_shape].
      key: a key of this step, shared by all devices (the latents).
      aux_key: a key for instance noise and penalty draws; derived from ``key`` if None.
    """
    b = real.shape[0]
    z = latent_batch(key, b, gan.latent_dim)
    # G runs in train mode (batch statistics of this batch) but stays fixed:
    # neither its parameters nor its running statistics change in a D step.
    fake, _ = _apply(gan.generator, state.g_params, state.g_batch_stats, z)
    fake = lax.stop_gradient(fake)
    d_params, opt_state, stats, grads, aux = _d_update(
        gan, state.d_params, state.d_opt_state, state.d_batch_stats, real, fake,
        _aux_key(key, aux_key), state.step)
    _, real_logits, fake_logits, loss, penalty = aux
    state = state.replace(d_params=d_params, d_opt_state=opt_state, d_batch_stats=stats)
    metrics = {
        "d_loss": loss,
        "d_real": jnp.mean(real_logits),
        "d_fake": jnp.mean(fake_logits),
        "d_grad_norm": optax.tree.norm(grads),
    }
    if gan.penalty is not penalties.no_penalty:
        metrics["penalty"] = penalty
    return state, device_mean(metrics)


def g_loss_fn(gan: GAN, state: GANState, g_params, z: jax.Array, real: jax.Array | None,
              unroll_z: jax.Array | None, aux_key: jax.Array):
    """G's loss on one device, through ``len(unroll_z)`` unrolled D updates.

    Unrolled GAN (Metz et al., "Unrolled Generative Adversarial Networks", ICLR 2017): G
    minimises ``g_loss`` against D_K, the discriminator after K further updates of D's own
    optimizer (state included) from its current parameters, the i-th on ``real`` and on
    G(unroll_z[i]). Each update is differentiable in G's parameters, so G's gradient carries
    the terms through D's response (the paper's "second term"). The unrolled parameters are
    thrown away: only the D step changes D. K = 0 (``unroll_z`` None or empty) is the plain G
    loss ``g_loss(D(G(z)))``.

    Args:
      z: latents [B_local, latent_dim]; unroll_z: [K, B_local, latent_dim] or None.
      real: real examples [B_local, *data_shape]; needed when K > 0 or the objective reads
        D's output on real data.
    Returns ``(loss, G's new batch statistics)``.
    """
    d_params, d_opt_state, d_stats = state.d_params, state.d_opt_state, state.d_batch_stats
    num_unroll = 0 if unroll_z is None else unroll_z.shape[0]
    for i in range(num_unroll):
        fake_i, _ = _apply(gan.generator, g_params, state.g_batch_stats, unroll_z[i])
        update_key = jax.random.fold_in(jax.random.fold_in(aux_key, _UNROLL_UPDATE), i)
        d_params, d_opt_state, d_stats, _, _ = _d_update(
            gan, d_params, d_opt_state, d_stats, real, fake_i, update_key, state.step)
    fake, g_stats = _apply(gan.generator, g_params, state.g_batch_stats, z)
    fake = _noisy(gan, fake, jax.random.fold_in(aux_key, _NOISE_FAKE), state.step)
    real_logits = None
    if gan.objective.g_needs_real:
        noisy_real = _noisy(gan, real, jax.random.fold_in(aux_key, _NOISE_REAL), state.step)
        real_logits, _ = _apply(gan.discriminator, d_params, d_stats, noisy_real)
    fake_logits, _ = _apply(gan.discriminator, d_params, d_stats, fake)
    return gan.objective.g_loss(real_logits, fake_logits), g_stats


def g_step(gan: GAN, state: GANState, key: jax.Array, local_batch: int,
           real: jax.Array | None = None, aux_key: jax.Array | None = None
           ) -> tuple[GANState, Metrics]:
    """One generator update with D fixed (the seed's Step 2).

    G and D form one network ``z -> D(G(z))``; the loss is differentiated with
    respect to G's parameters only, so gradients flow through D into G while D's
    parameters and running statistics stay as they are. With ``gan.unroll_steps``
    = K > 0 the loss is taken through K unrolled D updates (:func:`g_loss_fn`).
    """
    z = latent_batch(key, local_batch, gan.latent_dim)
    aux_key = _aux_key(key, aux_key)
    unroll_z = None
    if gan.unroll_steps > 0:
        unroll_z = jnp.stack([
            latent_batch(jax.random.fold_in(jax.random.fold_in(aux_key, _UNROLL_LATENT), i),
                         local_batch, gan.latent_dim)
            for i in range(gan.unroll_steps)])

    def loss_fn(g_params):
        return g_loss_fn(gan, state, g_params, z, real, unroll_z, aux_key)

    (loss, g_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.g_params)
    grads = device_mean(grads)
    updates, opt_state = gan.g_tx.update(grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, updates)
    ema = state.ema_g_params
    if ema is not None:
        ema = jax.tree.map(lambda e, p: gan.ema_decay * e + (1.0 - gan.ema_decay) * p,
                           ema, g_params)
    state = state.replace(g_params=g_params, g_opt_state=opt_state, g_batch_stats=g_stats,
                          ema_g_params=ema)
    metrics = {"g_loss": loss, "g_grad_norm": optax.tree.norm(grads)}
    return state, device_mean(metrics)


def train_step(gan: GAN, state: GANState, batch: jax.Array | None, *,
               local_batch: int, sampler: ExampleSampler | None = None
               ) -> tuple[GANState, Metrics]:
    """``gan.n_disc`` D steps then one G step, on one device's share.

    Args:
      batch: real data [n_disc, local_batch, *data_shape], one slice per D
        step, or ``None`` when ``sampler`` draws real toy data inside the step.
      local_batch: examples per device per update (static).
      sampler: draws one real example from a key (toy data), or ``None``.
    """
    step_key = jax.random.fold_in(state.rng, state.step)
    real = None
    metrics: Metrics = {}
    for k in range(gan.n_disc):
        if batch is None:
            real = per_example_draw(_purpose_key(step_key, _REAL_D, k), local_batch, sampler)
        else:
            real = batch[k]
        state, metrics = d_step(gan, state, real, _purpose_key(step_key, _LATENT_D, k),
                                _purpose_key(step_key, _AUX_D, k))
    state, g_metrics = g_step(gan, state, _purpose_key(step_key, _LATENT_G), local_batch, real,
                              _purpose_key(step_key, _AUX_G))
    return state.replace(step=state.step + 1), {**metrics, **g_metrics}


def make_mesh(devices=None) -> Mesh:
    """A one-axis mesh named "data" over all devices of all processes."""
    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices, dtype=object), (AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Sharding of a [n_disc, global_batch, ...] array: examples split over devices."""
    return NamedSharding(mesh, P(None, AXIS))


def parallelize(gan: GAN, mesh: Mesh, global_batch: int,
                sampler: ExampleSampler | None = None) -> Callable[..., Any]:
    """The jitted, sharded train step ``(state, batch) -> (state, metrics)``.

    The state is replicated and donated; ``batch`` (image data) is sharded over
    devices along its example axis; with a toy ``sampler`` pass ``batch=None``.
    """
    n = mesh.devices.size
    if global_batch % n:
        raise ValueError(
            f"config.batch_size={global_batch} is not divisible by the {n} devices; "
            f"use a multiple of {n}")
    step = functools.partial(train_step, gan, local_batch=global_batch // n, sampler=sampler)
    batch_spec = None if sampler is not None else P(None, AXIS)
    mapped = jax.shard_map(step, mesh=mesh, in_specs=(P(), batch_spec), out_specs=(P(), P()),
                           check_vma=False)
    return jax.jit(mapped, donate_argnums=0)


def generate(gan: GAN, params, batch_stats, z: jax.Array) -> jax.Array:
    """G's samples [N, *data_shape] in evaluation mode (running statistics)."""
    return gan.generator.apply({"params": params, "batch_stats": batch_stats}, z, train=False)


def discriminate(gan: GAN, params, batch_stats, x: jax.Array) -> jax.Array:
    """D's raw scores [N] in evaluation mode."""
    return gan.discriminator.apply({"params": params, "batch_stats": batch_stats}, x,
                                   train=False)
