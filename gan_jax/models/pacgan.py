"""The networks of the PacGAN experiments (Lin et al., "PacGAN", NeurIPS 2018).

Packing itself is generic (``config.model.pack``, see gan_jax/models/__init__.py); these
are the two architectures of the paper's released code (github.com/fjxmlzn/PacGAN), so its
tables can be reproduced on their own networks.

``pacgan_mlp`` (registry name), the synthetic-mixture networks, for vectors [B, d]:

- G: z [B, latent_dim] -> 4 hidden layers of 400 units, each linear without bias, batch
  norm (learned scale and shift) and ReLU -> a linear output [B, d] with bias.
- D: 3 linear maxout layers of 200 units with 5 pieces each (a Dense of 200 * 5 units, the
  maximum over the pieces; Goodfellow et al. 2013) -> a linear score. A packed D's first
  layer reads pack * d inputs.
- Every weight is drawn from N(0, 0.02^2), every bias starts at 0. Batch norm keeps running
  statistics with momentum 0.95 (the code's population update ``0.05 new + 0.95 old``).

``pacgan_dcgan``, the DCGAN of the Stacked MNIST experiment (Taehoon Kim's DCGAN-tensorflow,
which VEEGAN and PacGAN use with gf_dim = df_dim = 64), for images [B, H, W, C]:

- G: z -> Dense to (H/16, W/16, 512) (sizes rounded up), BN, ReLU -> four 5x5 stride-2
  transposed convolutions to 256, 128, 64 channels (BN, ReLU) and C channels (tanh), each
  landing exactly on TensorFlow's "SAME" output size (28 -> 14 -> 7 -> 4 -> 2 backwards).
- D: four 5x5 stride-2 "SAME" convolutions of 64, 128, 256, 512 channels, leaky ReLU 0.2,
  batch norm on all but the first -> flatten -> a linear score.
- Convolution and dense weights from N(0, 0.02^2) (the original draws the convolutions from a
  truncated normal of that std), biases 0; batch norm momentum 0.9, epsilon 1e-5.

The DCGAN's layers compute exactly what ``nn.ConvTranspose`` / ``nn.Conv`` compute, with
their parameters and names (checkpoints and counts unchanged), in the forms XLA:CPU runs
fastest (``benchmarks/pacgan_dcgan.py`` times both forms):
G's first transposed convolution (2x2 inputs, 512 -> 256 channels) as
:class:`~gan_jax.models.layers.PhaseConvTranspose`, the other three as
:class:`~gan_jax.models.layers.SubPixelConvTranspose` (an odd output side, 4 -> 7, is the
even one with its first row and column dropped, which is what TensorFlow's padding for
that side selects); D's convolutions of 128 and 256 input channels (7x7 and 4x4 inputs) as
:class:`~gan_jax.models.layers.PatchConv`. The plain layers on such small images with many
channels are 8-50x slower on XLA:CPU. ``plain_layers=True`` builds the network from
flax's own layers (the reference the tests compare with).

Both ignore labels (``conditioning`` is not offered: packing needs an unconditional D).
Initialise with ``train=False``; with ``train=True`` batch norm reduces over ``axis_name``.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.layers import PatchConv, PhaseConvTranspose, SubPixelConvTranspose

_init = nn.initializers.normal(0.02)


def _batch_norm(train: bool, axis_name: str | None, momentum: float, epsilon: float):
    return nn.BatchNorm(use_running_average=not train, momentum=momentum, epsilon=epsilon,
                        axis_name=axis_name, dtype=jnp.float32)


class MaxoutDense(nn.Module):
    """x [B, n] -> [B, features]: the maximum over ``pieces`` linear maps of x."""

    features: int
    pieces: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = nn.Dense(self.features * self.pieces, kernel_init=_init, dtype=self.dtype)(x)
        return h.reshape(*h.shape[:-1], self.features, self.pieces).max(axis=-1)


class ToyGenerator(nn.Module):
    """z [B, latent] -> x [B, out_dim]: ``depth`` x (linear, batch norm, ReLU), linear."""

    out_dim: int
    hidden: int = 400
    depth: int = 4
    axis_name: str | None = None
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, z: jax.Array, y: jax.Array | None = None, *,
                 train: bool = True) -> jax.Array:
        del y
        h = z
        for _ in range(self.depth):
            h = nn.Dense(self.hidden, use_bias=False, kernel_init=_init, dtype=self.dtype)(h)
            h = nn.relu(_batch_norm(train, self.axis_name, 0.95, 1e-5)(h))
        return nn.Dense(self.out_dim, kernel_init=_init, dtype=self.dtype)(h).astype(jnp.float32)


class ToyDiscriminator(nn.Module):
    """x [B, n] -> raw score [B]: ``depth`` maxout layers, then linear."""

    hidden: int = 200
    depth: int = 3
    pieces: int = 5
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, y: jax.Array | None = None, *,
                 train: bool = True) -> jax.Array:
        del y, train  # no batch norm
        h = x
        for _ in range(self.depth):
            h = MaxoutDense(self.hidden, self.pieces, dtype=self.dtype)(h)
        return nn.Dense(1, kernel_init=_init, dtype=self.dtype)(h)[..., 0].astype(jnp.float32)


def build_mlp(spec, axis_name, *, latent_dim: int = 2, g_hidden: int = 400, g_depth: int = 4,
              d_hidden: int = 200, d_depth: int = 3, maxout_pieces: int = 5):
    """The PacGAN synthetic-data pair for vectors of ``spec.shape`` = (d,) (``pacgan_mlp``)."""
    del latent_dim  # G takes any latent size
    if len(spec.shape) != 1:
        raise ValueError(f"config.model.name='pacgan_mlp' needs flat vectors (toy data), got "
                         f"data shape {tuple(spec.shape)}; use 'pacgan_dcgan' for images")
    return (ToyGenerator(out_dim=spec.shape[0], hidden=g_hidden, depth=g_depth,
                         axis_name=axis_name),
            ToyDiscriminator(hidden=d_hidden, depth=d_depth, pieces=maxout_pieces))


def same_transpose_padding(n_in: int, n_out: int, kernel: int, stride: int):
    """Explicit padding of a transposed convolution [n_in] -> [n_out], the transpose of
    TensorFlow's "SAME" convolution [n_out] -> [n_in] (which pads ``total`` = max((n_in - 1)
    * stride + kernel - n_out, 0), the smaller half first)."""
    total = max((n_in - 1) * stride + kernel - n_out, 0)
    before = total // 2
    return (kernel - 1 - before, kernel - 1 - (total - before))


def transpose_crop(n_in: int, n_out: int, kernel: int, stride: int) -> tuple[int, int]:
    """Rows dropped (before, after) from the "SAME" transposed convolution [n_in] ->
    [stride * n_in] to get the one of explicit padding ``same_transpose_padding`` [n_in] ->
    [n_out]: each unit less of padding removes one output row on that side."""
    same = same_transpose_padding(n_in, stride * n_in, kernel, stride)
    want = same_transpose_padding(n_in, n_out, kernel, stride)
    crop = (same[0] - want[0], same[1] - want[1])
    if min(crop) < 0 or stride * n_in - sum(crop) != n_out:
        raise ValueError(f"a {kernel}x{kernel} stride-{stride} transposed convolution cannot "
                         f"map side {n_in} to side {n_out}")
    return crop


def transposed_conv(h: jax.Array, features: int, out_size: tuple[int, int], first: bool,
                    plain: bool, dtype, name: str) -> jax.Array:
    """G's 5x5 stride-2 transposed convolution h -> [B, *out_size, features] (TensorFlow's
    padding for that size), called inside a compact module: ``nn.ConvTranspose`` when
    ``plain``, else the "SAME" rewrite (:class:`PhaseConvTranspose` for the ``first``
    layer, :class:`SubPixelConvTranspose` after it) cropped by :func:`transpose_crop`."""
    sides = h.shape[1:3]
    if plain:
        pad = [same_transpose_padding(sides[a], out_size[a], 5, 2) for a in (0, 1)]
        return nn.ConvTranspose(features, (5, 5), strides=(2, 2), padding=pad,
                                kernel_init=_init, dtype=dtype, name=name)(h)
    (t0, b0), (t1, b1) = (transpose_crop(sides[a], out_size[a], 5, 2) for a in (0, 1))
    layer = PhaseConvTranspose if first else SubPixelConvTranspose
    h = layer(features, 5, 2, kernel_init=_init, dtype=dtype, name=name)(h)
    return h[:, t0:h.shape[1] - b0, t1:h.shape[2] - b1]


def strided_conv(h: jax.Array, features: int, plain: bool, dtype, name: str) -> jax.Array:
    """D's 5x5 stride-2 "SAME" convolution, called inside a compact module: ``nn.Conv`` when
    ``plain``, else :class:`PatchConv` (the same function)."""
    if plain:
        return nn.Conv(features, (5, 5), strides=(2, 2), padding="SAME", kernel_init=_init,
                       dtype=dtype, name=name)(h)
    return PatchConv(features, kernel_size=5, stride=2, kernel_init=_init, dtype=dtype,
                     name=name)(h)


class DCGANGenerator(nn.Module):
    """z [B, latent] -> images [B, H, W, C] in [-1, 1] (tanh)."""

    shape: tuple[int, int, int]
    width: int = 64                  # gf_dim: channels of the last hidden layer
    axis_name: str | None = None
    dtype: Any = jnp.float32
    plain_layers: bool = False       # nn.ConvTranspose itself (the reference; slower)

    @nn.compact
    def __call__(self, z: jax.Array, y: jax.Array | None = None, *,
                 train: bool = True) -> jax.Array:
        del y
        h_, w_, c_ = self.shape
        sizes = [(h_, w_)]
        for _ in range(4):
            sizes.append((math.ceil(sizes[-1][0] / 2), math.ceil(sizes[-1][1] / 2)))
        sizes = sizes[::-1]  # (H/16, W/16) ... (H, W)
        dt = self.dtype

        def bn_relu(h):
            return nn.relu(_batch_norm(train, self.axis_name, 0.9, 1e-5)(h))

        h = nn.Dense(sizes[0][0] * sizes[0][1] * self.width * 8, kernel_init=_init, dtype=dt)(z)
        h = bn_relu(h.reshape(z.shape[0], *sizes[0], self.width * 8))
        for i, channels in enumerate((self.width * 4, self.width * 2, self.width, c_)):
            h = transposed_conv(h, channels, sizes[i + 1], i == 0, self.plain_layers, dt,
                                f"ConvTranspose_{i}")
            h = bn_relu(h) if i < 3 else jnp.tanh(h)
        return h.astype(jnp.float32)


class DCGANDiscriminator(nn.Module):
    """images [B, H, W, C'] -> raw score [B] (C' = pack * C when packed)."""

    width: int = 64                  # df_dim: channels of the first layer
    axis_name: str | None = None
    dtype: Any = jnp.float32
    plain_layers: bool = False       # nn.Conv itself (the reference; slower)

    @nn.compact
    def __call__(self, x: jax.Array, y: jax.Array | None = None, *,
                 train: bool = True) -> jax.Array:
        del y
        h = x
        for i, mult in enumerate((1, 2, 4, 8)):
            h = strided_conv(h, self.width * mult, self.plain_layers or i < 2, self.dtype,
                             f"Conv_{i}")
            if i > 0:
                h = _batch_norm(train, self.axis_name, 0.9, 1e-5)(h)
            h = nn.leaky_relu(h, 0.2)
        h = h.reshape(h.shape[0], -1)
        return nn.Dense(1, kernel_init=_init, dtype=self.dtype)(h)[..., 0].astype(jnp.float32)


def build_dcgan(spec, axis_name, *, latent_dim: int = 100, g_width: int = 64,
                d_width: int = 64, plain_layers: bool = False):
    """The Stacked MNIST DCGAN of VEEGAN / PacGAN for images ``spec.shape`` = (H, W, C)
    (``pacgan_dcgan``); ``plain_layers`` builds it from flax's own convolutions (the same
    function and parameters, slower on XLA:CPU)."""
    del latent_dim
    if len(spec.shape) != 3:
        raise ValueError(f"config.model.name='pacgan_dcgan' needs images [H, W, C], got data "
                         f"shape {tuple(spec.shape)}; use 'pacgan_mlp' for toy vectors")
    return (DCGANGenerator(shape=tuple(spec.shape), width=g_width, axis_name=axis_name,
                           plain_layers=plain_layers),
            DCGANDiscriminator(width=d_width, axis_name=axis_name, plain_layers=plain_layers))
