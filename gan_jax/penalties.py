"""Regulariser registry: penalties on D's input gradients, by name, composable with any loss.

``config.regularizers`` maps entries of :data:`PENALTIES` to weights, e.g.
``{"r1": 10.0, "gp": 1.0}``, or to ``{"weight": w, "every": k}`` for lazy
regularisation (the term on one D update in k, weighted k * w; Karras et al. 2020);
the older pair ``config.penalty`` / ``config.penalty_weight`` adds one more entry.
The D step minimises

    d_loss(real_logits, fake_logits) + sum_r weight_r * penalty_r(...)

so any set of penalties goes with any entry of :data:`gan_jax.losses.LOSSES`. Every penalty
has the signature ``penalty(d_fn, real, fake, uniform, axis_name=None) -> []``:

* ``d_fn(x [B, *data_shape], labels="real") -> [B]``: D's raw outputs with D's parameters
  closed over (the step differentiates the penalty with respect to those parameters as
  well). For labelled data D also reads labels: those of the real batch, or with
  ``labels="fake"`` those drawn for the generated batch. Points between real and generated
  examples (gp) take the real labels, as in compare_gan's conditional penalties.
* ``real``, ``fake``: this device's real and generated examples [B, *data_shape].
* ``uniform(purpose, shape) -> [B, *shape]``: U[0, 1) draws, one independent stream per
  example and per ``purpose`` (an int), so the numbers do not depend on how the batch is split
  over devices (the step builds it from the example's global index, see ``steps.py``).
* ``axis_name``: the mapped axis when the penalty runs inside ``shard_map``; statistics over
  the whole batch (DRAGAN's data scale) are averaged over it.

Input gradients are per example, ``grad(sum_i D(x_i))`` with respect to the batch: exact for
models that treat examples independently (the MLP; anything in evaluation mode), and for a
D with batch normalisation in training mode it also carries the small cross-example terms of
the batch statistics, as in the papers' reference code.

The entries (names for ``config.regularizers`` or ``--config.penalty=...``):

    name          penalty (before its weight)                     x where the gradient is taken
    none          0
    gp            mean (||grad D(x)|| - 1)^2                     x = e real + (1 - e) fake
    gp_one_sided  mean max(0, ||grad D(x)|| - 1)^2               x = e real + (1 - e) fake
    r1            1/2 mean ||grad D(x)||^2                       x = real
    r2            1/2 mean ||grad D(x)||^2                       x = fake
    dragan        mean (||grad D(x)|| - 1)^2                     x = real + a * 0.5 std(real) u

with e ~ U[0, 1) per example, a ~ U[0, 1) per example and u ~ U[0, 1)^d per element.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax

DFn = Callable[[jax.Array], jax.Array]
Uniform = Callable[[int, tuple[int, ...]], jax.Array]
Penalty = Callable[..., jax.Array]

# Purpose ids for ``uniform``: each draw of a penalty reads its own stream.
_MIX, _DIRECTION = 0, 1


def input_gradients(d_fn: DFn, x: jax.Array) -> jax.Array:
    """grad_x D(x) per example, [B, *data_shape]: the gradient of sum_i D(x_i) w.r.t. x."""
    return jax.grad(lambda x_: jnp.sum(d_fn(x_)))(x)


def gradient_norms(d_fn: DFn, x: jax.Array) -> jax.Array:
    """||grad_x D(x_i)||_2 per example [B], the norm over all of one example's elements.

    A tiny constant inside the square root keeps the norm's derivative finite where the
    gradient vanishes (the derivative of ||g|| at g = 0 is undefined; autodiff would give NaN).
    """
    g = input_gradients(d_fn, x).reshape(x.shape[0], -1)
    return jnp.sqrt(jnp.sum(jnp.square(g), axis=1) + 1e-12)


def _interpolate(real: jax.Array, fake: jax.Array, uniform: Uniform) -> jax.Array:
    eps = uniform(_MIX, ()).reshape((-1,) + (1,) * (real.ndim - 1)).astype(real.dtype)
    return eps * real + (1.0 - eps) * fake


def no_penalty(d_fn: DFn, real: jax.Array, fake: jax.Array, uniform: Uniform,
               axis_name: str | None = None) -> jax.Array:
    """The zero penalty: D's loss alone."""
    del d_fn, fake, uniform, axis_name
    return jnp.zeros((), real.dtype)


def gradient_penalty(d_fn: DFn, real: jax.Array, fake: jax.Array, uniform: Uniform,
                     axis_name: str | None = None) -> jax.Array:
    """Two-sided gradient penalty of WGAN-GP: mean_i (||grad D(x_i)|| - 1)^2.

    x_i = e_i real_i + (1 - e_i) fake_i with e_i ~ U[0, 1), on the lines between pairs of real
    and generated samples, where the optimal critic has gradient norm 1 (Gulrajani et al.,
    "Improved Training of Wasserstein GANs", NeurIPS 2017, eq. 3; weight lambda = 10 there).
    """
    del axis_name
    return jnp.mean(jnp.square(gradient_norms(d_fn, _interpolate(real, fake, uniform)) - 1.0))


def one_sided_gradient_penalty(d_fn: DFn, real: jax.Array, fake: jax.Array, uniform: Uniform,
                               axis_name: str | None = None) -> jax.Array:
    """One-sided gradient penalty: mean_i max(0, ||grad D(x_i)|| - 1)^2 on the same x_i.

    Penalises only norms above 1, i.e. only violations of the 1-Lipschitz constraint
    (Gulrajani et al. 2017, Appendix; also Petzka et al., "On the regularization of
    Wasserstein GANs", ICLR 2018).
    """
    del axis_name
    norms = gradient_norms(d_fn, _interpolate(real, fake, uniform))
    return jnp.mean(jnp.square(jnp.maximum(norms - 1.0, 0.0)))


def r1_penalty(d_fn: DFn, real: jax.Array, fake: jax.Array, uniform: Uniform,
               axis_name: str | None = None) -> jax.Array:
    """R1: 1/2 mean_i ||grad D(real_i)||^2, zero-centred, on real data only.

    Mescheder et al., "Which Training Methods for GANs do actually Converge?", ICML 2018,
    eq. 9: R1 = gamma/2 E_real ||grad D||^2. This function returns the term without gamma and
    WITH the 1/2, so its weight is the paper's gamma (gamma/2 convention;
    gamma = 10 on their CelebA/LSUN runs). The gradient is of D's raw output (the logit).
    """
    del fake, uniform, axis_name
    g = input_gradients(d_fn, real).reshape(real.shape[0], -1)
    return 0.5 * jnp.mean(jnp.sum(jnp.square(g), axis=1))


def r2_penalty(d_fn: DFn, real: jax.Array, fake: jax.Array, uniform: Uniform,
               axis_name: str | None = None) -> jax.Array:
    """R2: 1/2 mean_i ||grad D(fake_i)||^2, zero-centred, on generated data.

    Mescheder et al. 2018, eq. 10, in the same gamma/2 convention as :func:`r1_penalty`.
    """
    del real, uniform, axis_name
    g = input_gradients(lambda x: d_fn(x, "fake"), fake).reshape(fake.shape[0], -1)
    return 0.5 * jnp.mean(jnp.sum(jnp.square(g), axis=1))


def dragan_penalty(d_fn: DFn, real: jax.Array, fake: jax.Array, uniform: Uniform,
                   axis_name: str | None = None) -> jax.Array:
    """DRAGAN: mean_i (||grad D(x_i)|| - 1)^2 at points perturbed around the real data.

    Kodali et al., "On Convergence and Stability of GANs" (DRAGAN), 2017, and their reference
    code: x_i = real_i + a_i * delta_i with delta_i = 0.5 std(real) u_i, u_i ~ U[0, 1)^d per
    element and a_i ~ U[0, 1) per example; std(real) is the standard deviation of all elements
    of the real batch (the global batch: averaged over ``axis_name`` when mapped); weight
    lambda = 10 in the paper. Generated samples play no part.
    """
    del fake
    mean = jnp.mean(real)
    mean_sq = jnp.mean(jnp.square(real))
    if axis_name is not None:
        mean, mean_sq = lax.pmean((mean, mean_sq), axis_name)
    std = jnp.sqrt(jnp.maximum(mean_sq - jnp.square(mean), 0.0))
    std = lax.stop_gradient(std)
    delta = 0.5 * std * uniform(_DIRECTION, real.shape[1:]).astype(real.dtype)
    alpha = uniform(_MIX, ()).reshape((-1,) + (1,) * (real.ndim - 1)).astype(real.dtype)
    x = real + alpha * delta
    return jnp.mean(jnp.square(gradient_norms(d_fn, x) - 1.0))


PENALTIES: dict[str, Penalty] = {
    "none": no_penalty,
    "gp": gradient_penalty,
    "gp_one_sided": one_sided_gradient_penalty,
    "r1": r1_penalty,
    "r2": r2_penalty,
    "dragan": dragan_penalty,
}


def _weight_and_every(name: str, value) -> tuple[float, int]:
    if hasattr(value, "keys"):
        extra = sorted(set(value.keys()) - {"weight", "every"})
        if extra or "weight" not in value:
            raise ValueError(f"config.regularizers.{name} must be a weight or a group "
                             "{weight, every}; got fields " + ", ".join(sorted(value.keys())))
        weight, every = value["weight"], value.get("every", 1)
    else:
        weight, every = value, 1
    if isinstance(weight, bool) or not isinstance(weight, int | float) \
            or not math.isfinite(weight) or weight < 0:
        raise ValueError(f"config.regularizers.{name} weight {weight!r} must be a number >= 0")
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"config.regularizers.{name} every={every!r} must be an integer >= 1")
    return float(weight), int(every)


def regularizers_of(config) -> list[tuple[str, Penalty, float, int]]:
    """(name, penalty, weight, every) of each regulariser the config turns on.

    From ``config.regularizers`` and the older ``config.penalty``/``penalty_weight``; a
    weight of 0 turns an entry off. ValueError (one line) for an unknown name, a bad weight,
    or a name given both ways.
    """
    entries = dict(config.regularizers.items()) if config.get("regularizers") else {}
    if config.penalty != "none":
        if config.penalty in entries:
            raise ValueError(f"penalty {config.penalty!r} is set twice: config.penalty and "
                             f"config.regularizers.{config.penalty}; keep one")
        entries[config.penalty] = config.penalty_weight
    out = []
    for name in sorted(entries):
        if name not in PENALTIES or name == "none":
            raise ValueError(f"unknown regularizer {name!r} (config.regularizers); allowed: "
                             + ", ".join(sorted(k for k in PENALTIES if k != "none")))
        weight, every = _weight_and_every(name, entries[name])
        if weight > 0:
            out.append((name, PENALTIES[name], weight, every))
    return out


def get_penalty(name: str) -> Penalty:
    """The registered penalty called ``name``; ValueError in one line otherwise."""
    try:
        return PENALTIES[name]
    except KeyError:
        raise ValueError(f"unknown penalty {name!r} (config.penalty); allowed: "
                         + ", ".join(sorted(PENALTIES))) from None


def clip_weights(params, bound: float):
    """Every parameter clipped to [-bound, bound]: WGAN's Lipschitz device (Arjovsky et al.,
    "Wasserstein GAN", ICML 2017, Algorithm 1, c = 0.01 there). ``bound <= 0`` leaves them;
    a traced ``bound`` (carried per run by a vmapped sweep) always clips, +inf leaving them."""
    if not isinstance(bound, jax.Array) and bound <= 0:
        return params
    return jax.tree.map(lambda p: jnp.clip(p, -bound, bound), params)


def instance_noise_std(step: jax.Array, initial_std: float, anneal_steps: int) -> jax.Array:
    """Std of the instance noise at ``step``: ``initial_std`` annealed linearly to 0.

    Gaussian noise of this std is added to every input of D, real and generated, so that the
    two distributions overlap and D's gradients carry information early on (Sonderby et al.,
    "Amortised MAP Inference for Image Super-resolution", ICLR 2017, Appendix; Arjovsky &
    Bottou, "Towards Principled Methods for Training GANs", ICLR 2017). It falls linearly from
    ``initial_std`` at step 0 to 0 at ``anneal_steps`` and stays 0; ``anneal_steps = 0`` keeps
    it constant. Returns a float32 scalar.
    """
    step = jnp.asarray(step, jnp.float32)
    if anneal_steps <= 0:
        return jnp.full((), initial_std, jnp.float32)
    return initial_std * jnp.maximum(1.0 - step / anneal_steps, 0.0)
