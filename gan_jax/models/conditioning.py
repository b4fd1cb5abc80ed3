"""How models take labels: validation of ``config.model.conditioning`` and label inputs.

``conditioning_classes`` checks a model's conditioning against the data source's
spec (one-line ValueError when the data have no labels); ``with_label`` (vectors) and
``label_planes`` (images) are the input concatenation of the conditional GAN (Mirza &
Osindero, "Conditional Generative Adversarial Nets", 2014).

AC-GAN (Odena, Olah & Shlens, "Conditional Image Synthesis with Auxiliary Classifier GANs",
ICML 2017): D keeps one unconditional score per example [B] (what every loss and penalty
reads) and adds a head of K class logits on its penultimate features. The head's output is
not a second return value: :func:`sow_class_logits` stores it in the ``"intermediates"``
collection, which Flax fills only when the caller asks for it, so ``D(x, y) -> [B]`` holds
for every caller, and the training step reads the logits with
:func:`apply_with_class_logits`. A discriminator has the head exactly when its
``acgan_weight`` attribute (:func:`acgan_weight`) is positive.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

# Where D's auxiliary class logits [B, K] are sown.
CLASS_LOGITS = ("intermediates", "class_logits")


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


def check_acgan_weight(conditioning: str, acgan_weight: float) -> float:
    """The weight of the AC-GAN class terms: ``acgan_weight`` for "acgan" (it must be
    positive; ValueError, one line), 0 for any other conditioning."""
    if conditioning != "acgan":
        return 0.0
    if not acgan_weight > 0:
        raise ValueError(f"config.model.acgan_weight={acgan_weight!r} must be positive with "
                         "conditioning='acgan' (1.0 is the paper's equal weighting)")
    return float(acgan_weight)


def sow_class_logits(module: nn.Module, h: jax.Array, num_classes: int, **dense) -> None:
    """AC-GAN's auxiliary classifier: a dense layer ``aux_classifier`` from D's features
    h [B, n] to K class logits, sown (float32) where :func:`apply_with_class_logits` reads
    them. Call it inside ``module``'s compact ``__call__``."""
    logits = nn.Dense(num_classes, name="aux_classifier", **dense)(h)
    module.sow(CLASS_LOGITS[0], CLASS_LOGITS[1], logits.astype(jnp.float32))


def acgan_weight(discriminator) -> float:
    """The weight of the AC-GAN class terms of ``discriminator`` (0: no auxiliary head)."""
    return float(getattr(discriminator, "acgan_weight", 0.0) or 0.0)


def apply_with_class_logits(discriminator, params, batch_stats, x: jax.Array,
                            y: jax.Array | None):
    """Train mode: ``(scores [B], class logits [B, K] float32, new batch statistics)`` of an
    AC-GAN discriminator."""
    out, updates = discriminator.apply({"params": params, "batch_stats": batch_stats}, x, y,
                                       train=True, mutable=["batch_stats", CLASS_LOGITS[0]])
    logits = updates[CLASS_LOGITS[0]][CLASS_LOGITS[1]][-1]
    return out, logits, updates.get("batch_stats", batch_stats)
