"""Divergence registry: the GAN objectives, by name, as pure functions of D's raw outputs.

Each entry of :data:`LOSSES` is an :class:`Objective`, a pair of losses that the training step
minimises in turn: ``d_loss`` over the discriminator's parameters (Step 1 of the seed's loop,
G fixed) and ``g_loss`` over the generator's (Step 2, D fixed). ``config.loss`` names the entry.

Conventions shared by every function here:

* Inputs are D's raw, unbounded outputs, float arrays of shape ``[B]`` (any shape works; every
  loss is a mean over all elements). For the classifier losses they are logits, D(x) =
  sigmoid(logit); for the regression losses they are the scores regressed onto the targets.
  The discriminator never applies a sigmoid itself, so that no probability is ever rounded
  to exactly 0 or 1 before a log is taken.
* Every function returns a float scalar to MINIMISE (a "value" to maximise is negated).
* Logs of probabilities are written with ``jax.nn.softplus`` / ``jax.nn.log_sigmoid``:
  log D = -softplus(-l) and log(1 - D) = -softplus(l). ``log(sigmoid(l))`` would return
  -inf once sigmoid(l) underflows (l below about -88 in float32) and its gradient would be
  NaN; the softplus forms stay finite, with exact gradients, for any finite logit.
* The signature is always ``(real_logits, fake_logits)``, even where one is unused, so that
  the training step calls every variant the same way. ``Objective.g_needs_real`` tells the
  G step whether it must spend a forward pass of D on real data.

Adding a variant is one function, one line in :data:`LOSSES` and one test
(``tests/test_losses.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp


class Objective(NamedTuple):
    """The two losses of one GAN variant; both map D's raw outputs to a scalar to minimise.

    ``d_loss(real_logits [B], fake_logits [B]) -> []`` and
    ``g_loss(real_logits [B] | None, fake_logits [B]) -> []``.
    """

    d_loss: Callable[[jax.Array, jax.Array], jax.Array]
    g_loss: Callable[[jax.Array | None, jax.Array], jax.Array]
    # True when the generator loss reads D's output on real data (e.g. relativistic losses);
    # otherwise the G step skips that forward pass and passes None.
    g_needs_real: bool = False


def d_probability(logits: jax.Array) -> jax.Array:
    """D's probability that a sample is real, sigmoid(logits), same shape; for logging only."""
    return jax.nn.sigmoid(logits)


# --- classification: D is a real-vs-generated classifier (Goodfellow et al., 2014) ----------


def classifier_d_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """Cross-entropy of D with real labelled 1 and generated labelled 0, summed over the halves.

    loss = mean(softplus(-real)) + mean(softplus(fake))
         = -(E_x[log D(x)] + E_z[log(1 - D(G(z)))]) = -V(D, G),

    the negated value function of Goodfellow et al., "Generative Adversarial Nets", NeurIPS
    2014, eq. 1. The two means are summed, not averaged, so that -d_loss is V exactly and
    Theorem 1 reads off the loss: at the optimal D it equals log 4 - 2 JSD(p_data || p_G).
    A D that cannot tell the two apart (D = 1/2 everywhere) scores log 4.

    Args: real_logits [B], fake_logits [B]. Returns: scalar.
    """
    return jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(jax.nn.softplus(fake_logits))


def value_function(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))], the quantity D maximises.

    Goodfellow et al. 2014, eq. 1; equal to -classifier_d_loss. Kept for logging and for
    reproductions that plot V itself (at the optimal D it is -log 4 + 2 JSD, Theorem 1).

    Args: real_logits [B], fake_logits [B]. Returns: scalar.
    """
    return jnp.mean(jax.nn.log_sigmoid(real_logits)) + jnp.mean(jax.nn.log_sigmoid(-fake_logits))


def minimax_g_loss(real_logits: jax.Array | None, fake_logits: jax.Array) -> jax.Array:
    """The generator's side of the minimax game: minimise E_z[log(1 - D(G(z)))].

    loss = mean(log(1 - sigmoid(fake))) = -mean(softplus(fake))  (Goodfellow et al. 2014,
    eq. 1). Its gradient per logit is -sigmoid(fake): it vanishes exactly where D confidently
    rejects the samples, i.e. early in training (the saturation of Section 3 of the paper).
    ``real_logits`` is unused.

    Args: real_logits [B] or None, fake_logits [B]. Returns: scalar.
    """
    del real_logits
    return -jnp.mean(jax.nn.softplus(fake_logits))


def nonsaturating_g_loss(real_logits: jax.Array | None, fake_logits: jax.Array) -> jax.Array:
    """The "-log D" trick: minimise -E_z[log D(G(z))] instead of E_z[log(1 - D(G(z)))].

    loss = mean(softplus(-fake))  (Goodfellow et al. 2014, Section 3). Same fixed point as
    the minimax loss, but the gradient per logit is -sigmoid(-fake), close to -1 where D
    rejects the samples. Per sample its gradient is the minimax one times (1 - D) / D.
    ``real_logits`` is unused.

    Args: real_logits [B] or None, fake_logits [B]. Returns: scalar.
    """
    del real_logits
    return jnp.mean(jax.nn.softplus(-fake_logits))


# --- regression: D regresses real onto 1 and generated onto 0 (the seed's second reading) ---


def regression_d_loss(real_scores: jax.Array, fake_scores: jax.Array) -> jax.Array:
    """Squared error of D's raw output to target 1 for real, 0 for generated.

    loss = mean((real - 1)^2) + mean(fake^2): the least-squares GAN of Mao et al., "Least
    Squares Generative Adversarial Networks", ICCV 2017, with the 0-1 coding a = 0, b = 1
    (and without their factor 1/2). By their Proposition 1 the pointwise optimum is
    D*(x) = p_data(x) / (p_data(x) + p_G(x)), the same posterior as the classifier's. An
    output of 1/2 everywhere scores 0.5.

    Args: real_scores [B], fake_scores [B]. Returns: scalar.
    """
    return jnp.mean(jnp.square(real_scores - 1.0)) + jnp.mean(jnp.square(fake_scores))


def regression_g_loss(real_scores: jax.Array | None, fake_scores: jax.Array) -> jax.Array:
    """The generator wants its samples regressed onto the real target: mean((fake - 1)^2).

    Mao et al. 2017, eq. 2 with c = 1 (without the factor 1/2). ``real_scores`` is unused.

    Args: real_scores [B] or None, fake_scores [B]. Returns: scalar.
    """
    del real_scores
    return jnp.mean(jnp.square(fake_scores - 1.0))


LOSSES: dict[str, Objective] = {
    "minimax": Objective(classifier_d_loss, minimax_g_loss),
    "nonsaturating": Objective(classifier_d_loss, nonsaturating_g_loss),
    "regression": Objective(regression_d_loss, regression_g_loss),
}


def get_objective(name: str) -> Objective:
    """The registered :class:`Objective` called ``name``; ValueError in one line otherwise."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r} (config.loss); allowed: "
                         + ", ".join(sorted(LOSSES))) from None
