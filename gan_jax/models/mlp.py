"""MLP generator and discriminator for 1-D and 2-D toy data.

Shapes: the generator maps z [B, latent_dim] to x [B, out_dim] with a linear
output (toy data are unbounded); the discriminator maps x [B, d] to one raw,
unbounded score per sample [B].
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.layers import sn_layer


class MLPGenerator(nn.Module):
    """z [B, latent] float32 -> x [B, out_dim]; ``depth`` ReLU hidden layers, linear output."""

    out_dim: int
    hidden: int = 128
    depth: int = 3          # hidden layers
    dtype: Any = jnp.float32  # compute dtype of the layers; output float32

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
        del train  # no batch norm; accepted so every model is called alike
        h = z
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
    dtype: Any = jnp.float32  # compute dtype of the layers; scores float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
        h, sn, dt = x, self.spectral_norm, self.dtype
        for _ in range(self.depth):
            h = nn.leaky_relu(sn_layer(nn.Dense(self.hidden, dtype=dt), h, train, sn), 0.2)
        return sn_layer(nn.Dense(1, dtype=dt), h, train, sn)[..., 0].astype(jnp.float32)
