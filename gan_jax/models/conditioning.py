"""How models take labels: validation of ``config.model.conditioning`` and label inputs.

``conditioning_classes`` checks a model's conditioning against the data source's
spec (one-line ValueError when the data have no labels); ``with_label`` (vectors) and
``label_planes`` (images) are the input concatenation of the conditional GAN (Mirza &
Osindero, "Conditional Generative Adversarial Nets", 2014).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def with_label(h: jax.Array, y: jax.Array | None, num_classes: int) -> jax.Array:
    """``h`` [B, n] with the one-hot ``y`` [B] appended ([B, n + K]); ``h`` when K = 0."""
    if num_classes == 0:
        return h
    if y is None:
        raise ValueError("a conditional model needs labels y")
    return jnp.concatenate([h, jax.nn.one_hot(y, num_classes, dtype=h.dtype)], axis=-1)


def label_planes(x: jax.Array, y: jax.Array | None, num_classes: int) -> jax.Array:
    """Images ``x`` [B, H, W, C] with K constant planes appended, plane y set to 1."""
    if num_classes == 0:
        return x
    if y is None:
        raise ValueError("a conditional model needs labels y")
    planes = jax.nn.one_hot(y, num_classes, dtype=x.dtype)[:, None, None, :]
    return jnp.concatenate([x, jnp.broadcast_to(planes, (*x.shape[:3], num_classes))], axis=-1)


def conditioning_classes(conditioning: str, spec, allowed, model: str) -> int:
    """The number of classes a model conditions on (0 for "none"); ValueError (one line)
    for a conditioning the model lacks or data without labels."""
    if conditioning not in allowed:
        raise ValueError(f"unknown conditioning {conditioning!r} (config.model.conditioning) "
                         f"for model {model!r}; allowed: " + ", ".join(allowed))
    if conditioning == "none":
        return 0
    if not spec.num_classes:
        raise ValueError(f"config.model.conditioning={conditioning!r} needs labelled data, "
                         "but the data source has no labels (set conditioning='none')")
    return int(spec.num_classes)
