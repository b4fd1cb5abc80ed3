"""MLP generator and discriminator for 1-D and 2-D toy data.

Shapes: the generator maps z [B, latent_dim] to x [B, out_dim] with a linear
output (toy data are unbounded); the discriminator maps x [B, d] to one raw,
unbounded score per sample [B].

Conditioning (``conditioning="concat"``, the conditional GAN of Mirza & Osindero,
"Conditional Generative Adversarial Nets", 2014): the one-hot label [B, K] is
concatenated to z at G's input and to x at D's input. With ``"none"`` the label is
ignored and the parameter trees are those of the unconditional networks. ``"acgan"``
(Odena et al. 2017): G as with "concat"; D's score ignores the label and an auxiliary
dense layer maps D's last hidden layer to K class logits
(:func:`~gan_jax.models.conditioning.sow_class_logits`).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.conditioning import (
    check_acgan_weight,
    conditioning_classes,
    sow_class_logits,
    with_label,
)
from gan_jax.models.layers import sn_layer

CONDITIONINGS = ("none", "concat", "acgan")



class MLPGenerator(nn.Module):
    """z [B, latent] float32 -> x [B, out_dim]; ``depth`` ReLU hidden layers, linear output."""

    out_dim: int
    hidden: int = 128
    depth: int = 3          # hidden layers
    num_classes: int = 0    # > 0: the one-hot label is concatenated to z
    dtype: Any = jnp.float32  # compute dtype of the layers; output float32

    @nn.compact
    def __call__(self, z: jax.Array, y: jax.Array | None = None, *,
                 train: bool = True) -> jax.Array:
        del train  # no batch norm; accepted so every model is called alike
        h = with_label(z, y, self.num_classes)
        for _ in range(self.depth):
            h = nn.relu(nn.Dense(self.hidden, dtype=self.dtype)(h))
        return nn.Dense(self.out_dim, dtype=self.dtype)(h).astype(jnp.float32)


class MLPDiscriminator(nn.Module):
    """x [B, d] float32 -> raw score [B]; ``depth`` leaky-ReLU(0.2) hidden layers.

    ``spectral_norm``: every Dense kernel divided by its largest singular value, estimated by
    one power iteration per call in train mode (Miyato et al., ICLR 2018); the iteration's
    vectors live in the ``batch_stats`` collection.
    """

    hidden: int = 128
    depth: int = 3
    spectral_norm: bool = False
    num_classes: int = 0    # > 0: the one-hot label is concatenated to x
    dtype: Any = jnp.float32  # compute dtype of the layers; scores float32
    acgan_classes: int = 0  # > 0: AC-GAN's K class logits of the last hidden layer
    acgan_weight: float = 0.0  # > 0 exactly when acgan_classes > 0

    @nn.compact
    def __call__(self, x: jax.Array, y: jax.Array | None = None, *,
                 train: bool = True) -> jax.Array:
        h, sn, dt = with_label(x, y, self.num_classes), self.spectral_norm, self.dtype
        for _ in range(self.depth):
            h = nn.leaky_relu(sn_layer(nn.Dense(self.hidden, dtype=dt), h, train, sn), 0.2)
        if self.acgan_classes:
            sow_class_logits(self, h, self.acgan_classes, dtype=dt)
        return sn_layer(nn.Dense(1, dtype=dt), h, train, sn)[..., 0].astype(jnp.float32)


def build(spec, axis_name, *, latent_dim: int = 2, hidden: int = 128, depth: int = 3,
          spectral_norm: bool = False, conditioning: str = "none", acgan_weight: float = 1.0):
    """The toy MLP pair for vectors of ``spec.shape`` = (d,) (registry entry ``mlp``).

    ``spectral_norm`` applies to D; ``conditioning`` is "none", "concat" or "acgan"
    (``acgan_weight``: the weight of the class terms in both losses).
    """
    del axis_name, latent_dim  # no batch norm; G takes any latent size
    if len(spec.shape) != 1:
        raise ValueError(f"config.model.name='mlp' needs flat vectors (toy data), got data "
                         f"shape {tuple(spec.shape)}; use config.model.name='dcgan' for images")
    num_classes = conditioning_classes(conditioning, spec, CONDITIONINGS, "mlp")
    weight = check_acgan_weight(conditioning, acgan_weight)
    acgan = conditioning == "acgan"
    return (MLPGenerator(out_dim=spec.shape[0], hidden=hidden, depth=depth,
                         num_classes=num_classes),
            MLPDiscriminator(hidden=hidden, depth=depth, spectral_norm=spectral_norm,
                             num_classes=0 if acgan else num_classes,
                             acgan_classes=num_classes if acgan else 0, acgan_weight=weight))

