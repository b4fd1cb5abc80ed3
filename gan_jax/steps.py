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

Batches are dicts: ``{"image": [n_disc, B, *shape]}`` plus ``"label": [n_disc, B]``
int32 for labelled data; the players are called as ``G(z, y)`` and ``D(x, y)``
(``gan.g_apply``/``gan.d_apply``), with y None for unlabelled data. The labels of
generated examples are drawn inside the step. With ``config.model.pack`` = m > 1 D scores
groups of m consecutive examples (real with real, generated with generated; ``GAN.pack_input``),
so its batch is B / m; each device packs its own share, which is the same grouping as on one
device since the local batch is a multiple of m.

Randomness: the key of step ``t`` is ``fold_in(root, t)``; each use within a
step folds in a purpose id, and every latent vector, generated label or toy
sample folds in its *global example index*, so a run draws the same numbers on
1 device or on N (see docs/design.md).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax import lax
from jax.sharding import PartitionSpec as P

from gan_jax import augment, losses, penalties
from gan_jax.models.conditioning import acgan_weight, apply_with_class_logits
from gan_jax.sharding import (  # noqa: F401  (the mesh helpers, re-exported for callers)
    AXIS,
    BATCH_SPEC,
    batch_sharding,
    make_mesh,
    replicated,
)
from gan_jax.state import GAN, GANState

Metrics = dict[str, jax.Array]
Example = dict[str, jax.Array]
# Sampler of one real example {"image": ..., "label": ...} from its own key (a toy source).
ExampleSampler = Callable[[jax.Array], Example]

# Purpose ids folded into the step key, so that no two uses share bits.
_LATENT_D, _REAL_D, _LATENT_G, _AUX_D, _AUX_G, _LABEL_D, _LABEL_G = 0, 1, 2, 3, 4, 5, 6
# Purpose ids folded into the auxiliary key of one D or G step.
_NOISE_REAL, _NOISE_FAKE, _PENALTY, _UNROLL_LATENT, _UNROLL_UPDATE, _UNROLL_LABEL = (
    0, 1, 2, 3, 4, 5)
_AUGMENT_REAL, _AUGMENT_FAKE = 6, 7


def _purpose_key(step_key: jax.Array, purpose: int, k: int = 0) -> jax.Array:
    return jax.random.fold_in(jax.random.fold_in(step_key, purpose), k)


def global_example_index(local_batch: int) -> jax.Array:
    """Global indices [local_batch] of this device's examples in the batch."""
    return lax.axis_index(AXIS) * local_batch + jnp.arange(local_batch)


def per_example_draw(key: jax.Array, local_batch: int, draw: Callable) -> Any:
    """Draws ``draw(fold_in(key, i))`` for this device's global example indices i."""
    keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, global_example_index(local_batch))
    return jax.vmap(draw)(keys)


def latent_batch(key: jax.Array, local_batch: int, latent_dim: int) -> jax.Array:
    """Standard-normal latents [local_batch, latent_dim] for this device."""
    return per_example_draw(
        key, local_batch, lambda k: jax.random.normal(k, (latent_dim,), jnp.float32))


def label_batch(gan: GAN, key: jax.Array, local_batch: int) -> jax.Array | None:
    """Labels [local_batch] int32 of generated examples (None for unlabelled data)."""
    if not gan.num_classes:
        return None
    return per_example_draw(key, local_batch, gan.draw_label)


def device_mean(tree: Any) -> Any:
    """``lax.pmean(tree, "data")``; on a one-device mesh ``tree`` itself, since XLA:CPU
    copies every array through an all-reduce even when it has a single participant."""
    return tree if lax.axis_size(AXIS) == 1 else lax.pmean(tree, AXIS)


def _aux_key(key: jax.Array, aux_key: jax.Array | None) -> jax.Array:
    # Direct callers of d_step/g_step may pass one key; train_step passes all of them.
    return _purpose_key(key, _AUX_D) if aux_key is None else aux_key


def _label_key(key: jax.Array, label_key: jax.Array | None) -> jax.Array:
    return _purpose_key(key, _LABEL_D) if label_key is None else label_key


def _d_input(gan: GAN, x: jax.Array, aux_key: jax.Array, step: jax.Array,
             which: str) -> jax.Array:
    """What D sees of ``x`` (``which``: "real" or "fake"): DiffAugment, then instance noise.

    Each example is augmented from its own key (its global index folded into the purpose's
    key), so the draws do not depend on the number of devices.
    """
    purposes = {"real": (_AUGMENT_REAL, _NOISE_REAL), "fake": (_AUGMENT_FAKE, _NOISE_FAKE)}
    aug_purpose, noise_purpose = purposes[which]
    if gan.augment:
        keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(
            jax.random.fold_in(aux_key, aug_purpose), global_example_index(x.shape[0]))
        x = jax.vmap(lambda k, xi: augment.augment(xi, k, gan.augment))(keys, x)
    return _noisy(gan, x, jax.random.fold_in(aux_key, noise_purpose), step)


def _noisy(gan: GAN, x: jax.Array, key: jax.Array, step: jax.Array) -> jax.Array:
    """``x`` plus annealed Gaussian instance noise, one stream per example; ``x`` when off.

    ``gan.instance_noise`` may be a traced std (a vmapped sweep carries it per run): the
    noise is then always drawn, and a std of 0 adds exact zeros."""
    if not isinstance(gan.instance_noise, jax.Array) and gan.instance_noise <= 0:
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


def _regularization(gan: GAN, d_params, stats, real: Example, fake: Example,
                    aux_key: jax.Array, d_index: jax.Array) -> tuple[jax.Array, Metrics]:
    """The sum of the weighted regularisers and each one's term (what it adds to D's loss).

    With packing the regularisers see packed examples, as D does: an interpolate mixes a
    real and a generated group, and a gradient norm is that of the whole group's input.
    """
    (real_x, real_y), (fake_x, fake_y) = (gan.pack_input(real["image"], real.get("label")),
                                          gan.pack_input(fake["image"], fake.get("label")))
    labels = {"real": real_y, "fake": fake_y}

    def d_fn(x, which="real"):
        return gan.d_apply_packed(d_params, stats, x, labels[which], train=True)[0]

    uniform = _uniform_draws(jax.random.fold_in(aux_key, _PENALTY), real_x.shape[0])
    total, terms = jnp.zeros((), jnp.float32), {}
    for reg in gan.regularizers:
        def term(reg=reg):
            value = reg.fn(d_fn, real_x, fake_x, uniform, axis_name=AXIS)
            return (reg.weight * reg.every) * value.astype(jnp.float32)

        if reg.every > 1:
            # Lazy regularisation: computed on one D update in `every` only.
            value = lax.cond(d_index % reg.every == 0, term, lambda: jnp.zeros((), jnp.float32))
        else:
            value = term()
        terms[f"penalty_{reg.name}"] = value
        total = total + value
    return total, terms


def d_loss_terms(gan: GAN, d_params, d_batch_stats, real: Example, fake: Example,
                 aux_key: jax.Array, step: jax.Array, d_index: jax.Array | int = 0):
    """D's regularised loss on one device: ``d_loss + sum of weighted regularisers``.

    ``real`` and ``fake`` are examples ``{"image": [B, ...], "label": [B]}`` (label only for
    labelled data). Both images first go through ``_d_input`` (DiffAugment, instance noise;
    each only when configured), and the regularisers see them as D does. ``d_index``
    counts D updates (lazy regularisers run when it is a multiple of their period).
    Returns ``(total, (batch_stats, real_logits, fake_logits, d_loss, (penalty, terms)))``;
    the regularisers' own forward passes of D do not change the batch statistics. For an
    AC-GAN discriminator ``d_loss`` includes the weighted class terms
    (``losses.acgan_d_term``); the objective and the regularisers read the scores only.
    """
    real = {**real, "image": _d_input(gan, real["image"], aux_key, step, "real")}
    fake = {**fake, "image": _d_input(gan, fake["image"], aux_key, step, "fake")}
    weight = acgan_weight(gan.discriminator)
    if weight:
        real_logits, real_classes, stats = apply_with_class_logits(
            gan.discriminator, d_params, d_batch_stats, real["image"], real["label"])
        fake_logits, fake_classes, stats = apply_with_class_logits(
            gan.discriminator, d_params, stats, fake["image"], fake["label"])
        class_term = losses.acgan_d_term(real_classes, real["label"], fake_classes,
                                         fake["label"], weight)
    else:
        real_logits, stats = gan.d_apply(d_params, d_batch_stats, real["image"],
                                         real.get("label"), train=True)
        fake_logits, stats = gan.d_apply(d_params, stats, fake["image"], fake.get("label"),
                                         train=True)
        class_term = 0.0
    loss = gan.objective.d_loss(real_logits, fake_logits) + class_term
    penalty, terms = _regularization(gan, d_params, stats, real, fake, aux_key,
                                     jnp.asarray(d_index))
    return loss + penalty, (stats, real_logits, fake_logits, loss, (penalty, terms))


def _d_update(gan: GAN, d_params, d_opt_state, d_batch_stats, real: Example, fake: Example,
              aux_key, step, d_index=0):
    """One optimizer step of D (gradients averaged over devices, then weight clipping).

    Differentiable in ``fake``, so the unrolled G step can look through it.
    Returns ``(d_params, d_opt_state, batch_stats, grads, aux of d_loss_terms)``.
    """
    (_, aux), grads = jax.value_and_grad(d_loss_terms, argnums=1, has_aux=True)(
        gan, d_params, d_batch_stats, real, fake, aux_key, step, d_index)
    grads = device_mean(grads)
    updates, d_opt_state = gan.d_tx.update(grads, d_opt_state, d_params)
    d_params = penalties.clip_weights(optax.apply_updates(d_params, updates), gan.clip_weights)
    return d_params, d_opt_state, aux[0], grads, aux


def _generated(gan: GAN, g_params, g_batch_stats, z, y) -> tuple[Example, Any]:
    """G's examples ``{"image", "label"}`` in train mode, and G's new batch statistics."""
    x, stats = gan.g_apply(g_params, g_batch_stats, z, y, train=True)
    return ({"image": x} if y is None else {"image": x, "label": y}), stats


def d_step(gan: GAN, state: GANState, real: Example, key: jax.Array,
           aux_key: jax.Array | None = None, label_key: jax.Array | None = None,
           d_index: jax.Array | int = 0) -> tuple[GANState, Metrics]:
    """One discriminator update with G fixed (the seed's Step 1).

    The loss is ``d_loss`` plus the weighted regularisers, on inputs with instance noise;
    after the update D's parameters are clipped (each only when configured).

    Args:
      real: this device's real examples ``{"image": [B_local, *data_shape], "label":
        [B_local]}`` (label only for labelled data).
      key: a key of this step, shared by all devices (the latents).
      aux_key: a key for instance noise and penalty draws; derived from ``key`` if None.
      label_key: a key for the generated labels; derived from ``key`` if None.
      d_index: the number of D updates before this one (lazy regularisers).
    """
    b = real["image"].shape[0]
    z = latent_batch(key, b, gan.latent_dim)
    y = label_batch(gan, _label_key(key, label_key), b)
    # G runs in train mode (batch statistics of this batch) but stays fixed:
    # neither its parameters nor its running statistics change in a D step.
    fake, _ = _generated(gan, state.g_params, state.g_batch_stats, z, y)
    fake = lax.stop_gradient(fake)
    d_params, opt_state, stats, grads, aux = _d_update(
        gan, state.d_params, state.d_opt_state, state.d_batch_stats, real, fake,
        _aux_key(key, aux_key), state.step, d_index)
    _, real_logits, fake_logits, loss, (penalty, terms) = aux
    state = state.replace(d_params=d_params, d_opt_state=opt_state, d_batch_stats=stats)
    metrics = {
        "d_loss": loss,
        "d_real": jnp.mean(real_logits),
        "d_fake": jnp.mean(fake_logits),
        "d_grad_norm": optax.tree.norm(grads),
    }
    if terms:
        metrics["penalty"] = penalty
        if len(terms) > 1:
            metrics.update(terms)
    return state, device_mean(metrics)


def g_loss_fn(gan: GAN, state: GANState, g_params, z: jax.Array, y: jax.Array | None,
              real: Example | None, unroll: tuple | None, aux_key: jax.Array):
    """G's loss on one device, through ``K`` unrolled D updates.

    Unrolled GAN (Metz et al., "Unrolled Generative Adversarial Networks", ICLR 2017): G
    minimises ``g_loss`` against D_K, the discriminator after K further updates of D's own
    optimizer (state included) from its current parameters, the i-th on ``real`` and on
    G(unroll_z[i], unroll_y[i]). Each update is differentiable in G's parameters, so G's
    gradient carries the terms through D's response (the paper's "second term"). The
    unrolled parameters are thrown away: only the D step changes D. K = 0 (``unroll`` None)
    is the plain G loss ``g_loss(D(G(z, y), y))``.

    Args:
      z: latents [B_local, latent_dim]; y: generated labels [B_local] or None.
      real: real examples; needed when K > 0 or the objective reads D's output on real data.
      unroll: None, or (unroll_z [K, B_local, latent_dim], unroll_y [K, B_local] or None).
    Returns ``(loss, G's new batch statistics)``.
    """
    d_params, d_opt_state, d_stats = state.d_params, state.d_opt_state, state.d_batch_stats
    unroll_z, unroll_y = unroll if unroll is not None else (None, None)
    num_unroll = 0 if unroll_z is None else unroll_z.shape[0]
    for i in range(num_unroll):
        fake_i, _ = _generated(gan, g_params, state.g_batch_stats, unroll_z[i],
                               None if unroll_y is None else unroll_y[i])
        update_key = jax.random.fold_in(jax.random.fold_in(aux_key, _UNROLL_UPDATE), i)
        d_params, d_opt_state, d_stats, _, _ = _d_update(
            gan, d_params, d_opt_state, d_stats, real, fake_i, update_key, state.step,
            state.step * gan.n_disc + i)
    fake, g_stats = _generated(gan, g_params, state.g_batch_stats, z, y)
    fake_x = _d_input(gan, fake["image"], aux_key, state.step, "fake")
    real_logits = None
    if gan.objective.g_needs_real:
        noisy_real = _d_input(gan, real["image"], aux_key, state.step, "real")
        real_logits = gan.d_apply(d_params, d_stats, noisy_real, real.get("label"),
                                  train=True)[0]
    weight = acgan_weight(gan.discriminator)
    if weight:
        # AC-GAN: G also makes D's classifier assign the requested labels.
        fake_logits, fake_classes, _ = apply_with_class_logits(gan.discriminator, d_params,
                                                               d_stats, fake_x, y)
        class_term = losses.acgan_g_term(fake_classes, y, weight)
    else:
        fake_logits, class_term = gan.d_apply(d_params, d_stats, fake_x, y, train=True)[0], 0.0
    return gan.objective.g_loss(real_logits, fake_logits) + class_term, g_stats


def g_step(gan: GAN, state: GANState, key: jax.Array, local_batch: int,
           real: Example | None = None, aux_key: jax.Array | None = None,
           label_key: jax.Array | None = None) -> tuple[GANState, Metrics]:
    """One generator update with D fixed (the seed's Step 2).

    G and D form one network ``z -> D(G(z, y), y)``; the loss is differentiated with
    respect to G's parameters only, so gradients flow through D into G while D's
    parameters and running statistics stay as they are. With ``gan.unroll_steps``
    = K > 0 the loss is taken through K unrolled D updates (:func:`g_loss_fn`).
    """
    z = latent_batch(key, local_batch, gan.latent_dim)
    label_key = _purpose_key(key, _LABEL_G) if label_key is None else label_key
    y = label_batch(gan, label_key, local_batch)
    aux_key = _aux_key(key, aux_key)
    unroll = None
    if gan.unroll_steps > 0:
        keys = [jax.random.fold_in(jax.random.fold_in(aux_key, purpose), i)
                for purpose in (_UNROLL_LATENT, _UNROLL_LABEL) for i in range(gan.unroll_steps)]
        k = gan.unroll_steps
        unroll_z = jnp.stack([latent_batch(kz, local_batch, gan.latent_dim) for kz in keys[:k]])
        unroll_y = (None if not gan.num_classes else
                    jnp.stack([label_batch(gan, ky, local_batch) for ky in keys[k:]]))
        unroll = (unroll_z, unroll_y)

    def loss_fn(g_params):
        return g_loss_fn(gan, state, g_params, z, y, real, unroll, aux_key)

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


def train_step(gan: GAN, state: GANState, batch: dict[str, jax.Array] | None, *,
               local_batch: int, sampler: ExampleSampler | None = None
               ) -> tuple[GANState, Metrics]:
    """``gan.n_disc`` D steps then one G step, on one device's share.

    Args:
      batch: real data ``{"image": [n_disc, local_batch, *data_shape], "label": [n_disc,
        local_batch]}``, one slice per D step, or ``None`` when ``sampler`` draws real toy
        examples inside the step.
      local_batch: examples per device per update (static).
      sampler: draws one real example (a dict) from a key (toy data), or ``None``.
    """
    step_key = jax.random.fold_in(state.rng, state.step)
    real = None
    metrics: Metrics = {}
    for k in range(gan.n_disc):
        if batch is None:
            real = per_example_draw(_purpose_key(step_key, _REAL_D, k), local_batch, sampler)
        else:
            real = jax.tree.map(lambda leaf, k=k: leaf[k], batch)
        if not gan.num_classes:
            real = {"image": real["image"]}
        state, metrics = d_step(gan, state, real, _purpose_key(step_key, _LATENT_D, k),
                                _purpose_key(step_key, _AUX_D, k),
                                _purpose_key(step_key, _LABEL_D, k),
                                state.step * gan.n_disc + k)
    state, g_metrics = g_step(gan, state, _purpose_key(step_key, _LATENT_G), local_batch, real,
                              _purpose_key(step_key, _AUX_G), _purpose_key(step_key, _LABEL_G))
    return state.replace(step=state.step + 1), {**metrics, **g_metrics}


def parallelize(gan: GAN, mesh, global_batch: int,
                sampler: ExampleSampler | None = None) -> Callable[..., Any]:
    """The jitted, sharded train step ``(state, batch) -> (state, metrics)``.

    The state is replicated and donated; every leaf of ``batch`` (a dict of host-pipeline
    arrays) is sharded over devices along its example axis; with a toy ``sampler`` pass
    ``batch=None``.
    """
    n = mesh.devices.size
    if global_batch % n:
        raise ValueError(
            f"config.batch_size={global_batch} is not divisible by the {n} devices; "
            f"use a multiple of {n}")
    step = functools.partial(train_step, gan, local_batch=global_batch // n, sampler=sampler)
    # One spec for the whole batch pytree: every leaf is split along its example axis.
    batch_spec = None if sampler is not None else BATCH_SPEC
    mapped = jax.shard_map(step, mesh=mesh, in_specs=(P(), batch_spec), out_specs=(P(), P()),
                           check_vma=False)
    return jax.jit(mapped, donate_argnums=0)
