"""The ResNet GAN of SNGAN (Miyato et al., "Spectral Normalization for Generative
Adversarial Networks", ICLR 2018, Appendix B), unconditional or with conditional batch
norm and a projection discriminator (Miyato & Koyama, "cGANs with Projection
Discriminator", ICLR 2018).

  G: z [B, latent] -> linear -> [B, b, b, g0] -> up-sampling residual blocks
       (BN-ReLU-upsample-conv3x3-BN-ReLU-conv3x3, shortcut upsample-conv1x1)
       -> BN -> ReLU -> conv3x3 C -> tanh                                     [B, H, W, C]
  D: x -> optimised block (conv3x3-ReLU-conv3x3-avgpool, shortcut avgpool-conv1x1)
       -> residual blocks (ReLU-conv3x3-ReLU-conv3x3[-avgpool], shortcut [conv1x1[-avgpool]])
       -> ReLU -> global sum pooling phi(x) [B, d] -> linear -> score [B]
       (+ <embed(y), phi(x)> with "cbn+projection")

Spectral norm wraps every layer of D (convolutions, the linear layer, the projection
embedding); G has none, and batch norm instead. Widths per resolution (``RESNET_ARCHS``)
are those of the public Mimicry implementation (kwotsin/mimicry, ``sngan_32/48/64.py``),
which follows the authors' Chainer code (pfnet-research/sngan_projection): the CIFAR-10
32x32 pair (G 256 channels from 4x4, D 128), the STL-10 48x48 pair of the paper's
Appendix B (G 512 -> 64 from 6x6, D 64 -> 1024) and the 64x64 pair (G 1024 -> 64 from 4x4,
D 64 -> 1024 with four down-samplings). ``tests/test_resnet.py`` checks the parameter
counts against Mimicry's. Up-sampling is nearest-neighbour as in the Chainer original
(Mimicry uses bilinear; the parameters are the same). Convolution kernels start from
Glorot-uniform with gain sqrt(2) inside the residual paths and 1 elsewhere, biases from 0.

The blocks (:class:`GBlock`, :class:`DBlock`) also serve the BigGAN-style family
(``gan_jax/models/biggan.py``), which swaps the normalisation of G's blocks, adds spectral
norm to G, and widens D's hidden layers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.models.conditioning import conditioning_classes
from gan_jax.models.dcgan import ConditionalBatchNorm
from gan_jax.models.layers import ConvPool, UpsampleConv, WinogradConv, sn_layer

Init = nn.initializers.Initializer


def glorot(gain: float) -> Init:
    """Glorot-uniform scaled by ``gain`` (PyTorch's ``xavier_uniform_(w, gain)``)."""
    return nn.initializers.variance_scaling(gain * gain, "fan_avg", "uniform")


def batch_norm(train: bool, axis_name: str | None, **kwargs) -> nn.BatchNorm:
    """Batch norm over the batch (and ``axis_name`` inside shard_map), in float32."""
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                        axis_name=axis_name, dtype=jnp.float32, **kwargs)


def upsample(x: jax.Array) -> jax.Array:
    """Nearest-neighbour 2x up-sampling: [B, H, W, C] -> [B, 2H, 2W, C]."""
    b, h, w, c = x.shape
    x = jnp.broadcast_to(x[:, :, None, :, None, :], (b, h, 2, w, 2, c))
    return x.reshape(b, 2 * h, 2 * w, c)


def avg_pool(x: jax.Array) -> jax.Array:
    """2x2 average pooling, stride 2: [B, H, W, C] -> [B, H/2, W/2, C]."""
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


class BatchNorm(nn.Module):
    """Unconditional batch norm with G's block signature ``(h, cond, train)``."""

    axis_name: str | None = None

    @nn.compact
    def __call__(self, h: jax.Array, cond: Any, train: bool) -> jax.Array:
        del cond
        return batch_norm(train, self.axis_name)(h)


class GBlock(nn.Module):
    """G's up-sampling residual block: [B, H, W, C_in] -> [B, 2H, 2W, features].

    Residual: norm-ReLU-upsample-conv3x3-norm-ReLU-conv3x3; shortcut: upsample-conv1x1
    (the identity when neither the width nor the size changes). ``norm`` makes a module
    called as ``norm(h, cond, train)``: plain batch norm, batch norm with per-class gain and
    bias (``cond`` the labels), or BigGAN's linear conditional batch norm (``cond`` a vector).
    """

    features: int
    norm: Callable[..., nn.Module]
    up: bool = True
    spectral_norm: bool = False
    residual_init: Init = glorot(np.sqrt(2.0))
    shortcut_init: Init = glorot(1.0)
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, cond: Any, train: bool) -> jax.Array:
        sn, dt = self.spectral_norm, self.dtype

        def conv(h, features, k, init, name, up=False):
            if up:  # upsample, then conv: computed at h's resolution (layers.UpsampleConv)
                layer = UpsampleConv(features, k, kernel_init=init, dtype=dt, name=name)
            elif k == 3 and jnp.dtype(dt) == jnp.float32 and jax.default_backend() == "cpu":
                # XLA:CPU's direct 3x3 convolution is slower (layers.WinogradConv).
                layer = WinogradConv(features, kernel_init=init, dtype=dt, name=name)
            else:
                layer = nn.Conv(features, (k, k), padding="SAME", kernel_init=init, dtype=dt,
                                name=name)
            return sn_layer(layer, h, train, sn)

        h = nn.relu(self.norm(name="norm1")(x, cond, train)).astype(dt)
        h = conv(h, self.features, 3, self.residual_init, "conv1", up=self.up)
        h = nn.relu(self.norm(name="norm2")(h, cond, train)).astype(dt)
        h = conv(h, self.features, 3, self.residual_init, "conv2")
        s = x.astype(dt)
        if self.up or x.shape[-1] != self.features:
            # A 1 x 1 convolution commutes with nearest up-sampling: applied first, 4x cheaper.
            s = conv(s, self.features, 1, self.shortcut_init, "shortcut")
            s = upsample(s) if self.up else s
        return h + s


class DBlock(nn.Module):
    """D's residual block: [B, H, W, C_in] -> [B, H/2, W/2, features] (H, W with ``down``
    False), every convolution spectrally normalised.

    ``first`` (the optimised block of SNGAN, for the image itself): residual
    conv3x3-ReLU-conv3x3-avgpool, shortcut avgpool-conv1x1. Otherwise: residual
    ReLU-conv3x3-ReLU-conv3x3[-avgpool], shortcut conv1x1[-avgpool] (the identity when
    neither the width nor the size changes). ``hidden``: the first convolution's width
    (SNGAN: the input's; BigGAN's wide D: the output's).
    """

    features: int
    hidden: int
    down: bool = True
    first: bool = False
    residual_init: Init = glorot(np.sqrt(2.0))
    shortcut_init: Init = glorot(1.0)
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        dt = self.dtype
        x = x.astype(dt)

        def conv(h, features, k, init, name, pool=False):
            if pool:  # conv, then avgpool: one stride-2 convolution (layers.ConvPool)
                layer = ConvPool(features, k, kernel_init=init, dtype=dt, name=name)
            else:
                layer = nn.Conv(features, (k, k), padding="SAME", kernel_init=init, dtype=dt,
                                name=name)
            return sn_layer(layer, h, train, True)

        h = x if self.first else nn.relu(x)
        h = conv(h, self.hidden, 3, self.residual_init, "conv1")
        h = conv(nn.relu(h), self.features, 3, self.residual_init, "conv2", pool=self.down)
        if self.down or x.shape[-1] != self.features:
            # conv1x1-avgpool (SNGAN's later blocks) equals avgpool-conv1x1 (its first
            # block's order), 4x cheaper.
            s = conv(avg_pool(x) if self.down else x, self.features, 1, self.shortcut_init,
                     "shortcut")
        else:
            s = x
        return h + s


def projection_head(module: nn.Module, h: jax.Array, y: jax.Array | None, num_classes: int,
                    train: bool, init: Init, dtype: Any) -> jax.Array:
    """D's score from phi(x) = ``h`` [B, d]: linear(h) + <embed(y), h> (the projection term
    only with ``num_classes`` > 0), both spectrally normalised. Returns [B] float32.

    Called inside ``module``'s compact ``__call__``; the layers are named "linear" and
    "projection" there.
    """
    out = sn_layer(nn.Dense(1, kernel_init=init, dtype=dtype, parent=module, name="linear"),
                   h, train, True)[..., 0]
    if num_classes:
        if y is None:
            raise ValueError("a conditional model needs labels y")
        embed = nn.Embed(num_classes, h.shape[-1], embedding_init=init, parent=module,
                         name="projection")
        e = sn_layer(embed, y, train, True)
        out = out + jnp.sum(e.astype(h.dtype) * h, axis=-1)
    return out.astype(jnp.float32)


class ResNetGenerator(nn.Module):
    """z [B, latent] float32 (and labels y [B] int32) -> images [B, H, W, C] in [-1, 1].

    ``widths``: the bottom feature map's channels, then each block's output channels (one
    block per doubling). Initialise with ``train=False``.
    """

    output_shape: tuple[int, int, int]      # (H, W, C)
    widths: tuple[int, ...]
    bottom: int                             # side of the first feature map
    axis_name: str | None = None
    num_classes: int = 0                    # > 0: conditional batch norm on y
    dtype: Any = jnp.float32                # compute dtype of the layers; output float32

    @nn.compact
    def __call__(self, z: jax.Array, y: jax.Array | None = None, *,
                 train: bool = True) -> jax.Array:
        dt, b = self.dtype, self.bottom
        if self.num_classes:
            if y is None:
                raise ValueError("a conditional model needs labels y")
            norm = _cbn(self.num_classes, self.axis_name)
        else:
            norm = _bn(self.axis_name)
        h = nn.Dense(b * b * self.widths[0], kernel_init=glorot(1.0), dtype=dt)(z)
        h = h.reshape(z.shape[0], b, b, self.widths[0])
        for width in self.widths[1:]:
            h = GBlock(width, norm, dtype=dt)(h, y, train)
        h = nn.relu(batch_norm(train, self.axis_name)(h)).astype(dt)
        h = nn.Conv(self.output_shape[-1], (3, 3), padding="SAME", kernel_init=glorot(1.0),
                    dtype=dt)(h)
        return nn.tanh(h).astype(jnp.float32)


def _bn(axis_name):
    return lambda name: BatchNorm(axis_name, name=name)


def _cbn(num_classes, axis_name):
    return lambda name: ConditionalBatchNorm(num_classes, axis_name, name=name)


class ResNetDiscriminator(nn.Module):
    """Images [B, H, W, C] float32 (and labels y [B]) -> raw scores [B].

    ``widths``: each block's output channels; ``downs``: whether it halves the size.
    Initialise with ``train=False`` (spectral norm's vectors update in train mode).
    """

    widths: tuple[int, ...]
    downs: tuple[bool, ...]
    axis_name: str | None = None            # unused: D has no batch norm
    num_classes: int = 0                    # > 0: projection discriminator
    dtype: Any = jnp.float32                # compute dtype of the layers; scores float32

    @nn.compact
    def __call__(self, x: jax.Array, y: jax.Array | None = None, *,
                 train: bool = True) -> jax.Array:
        h, c_in = x, x.shape[-1]
        for i, (width, down) in enumerate(zip(self.widths, self.downs, strict=True)):
            hidden = width if i == 0 else c_in
            h = DBlock(width, hidden, down=down, first=i == 0, dtype=self.dtype)(h, train)
            c_in = width
        h = jnp.sum(nn.relu(h), axis=(1, 2))
        return projection_head(self, h, y, self.num_classes, train, glorot(1.0), self.dtype)


# side -> (G's bottom side, G's widths in units of g_ch / 16, D's widths in units of
# d_ch / 16, D's down-samplings). The published (g_ch, d_ch) per side: RESNET_WIDTHS.
RESNET_ARCHS = {
    32: (4, (16, 16, 16, 16), (16, 16, 16, 16), (True, True, False, False)),
    48: (6, (16, 8, 4, 2), (1, 2, 4, 8, 16), (True, True, True, True, False)),
    64: (4, (16, 8, 4, 2, 1), (1, 2, 4, 8, 16), (True, True, True, True, True)),
}
RESNET_WIDTHS = {32: (256, 128), 48: (512, 1024), 64: (1024, 1024)}
CONDITIONINGS = ("none", "cbn+projection")


def _width(value: int, field: str) -> int:
    if value % 16:
        raise ValueError(f"config.model.{field}={value!r} must be a multiple of 16")
    return value // 16


def build(spec, axis_name, *, latent_dim: int = 128, g_ch: int = 256, d_ch: int = 128,
          conditioning: str = "none"):
    """The SNGAN ResNet pair for 32x32, 48x48 or 64x64 images (registry ``resnet``).

    ``g_ch``/``d_ch``: the widths of G's and D's widest layers, multiples of 16 (the
    defaults are CIFAR-10's; published at 48: 512/1024, at 64: 1024/1024, see
    ``RESNET_WIDTHS``). ``conditioning``: "none" (G
    and D accept labels and ignore them) or "cbn+projection" (per-class batch-norm gain and
    bias in G's blocks, a projection discriminator).
    """
    del latent_dim  # G's first layer takes any latent size
    shape = tuple(spec.shape)
    if not (len(shape) == 3 and shape[0] == shape[1] and shape[0] in RESNET_ARCHS):
        raise ValueError("config.model.name='resnet' needs square images of side "
                         f"{', '.join(map(str, RESNET_ARCHS))}, got data shape {shape}")
    k = conditioning_classes(conditioning, spec, CONDITIONINGS, "resnet")
    bottom, g_units, d_units, downs = RESNET_ARCHS[shape[0]]
    g, d = _width(g_ch, "g_ch"), _width(d_ch, "d_ch")
    return (ResNetGenerator(output_shape=shape, widths=tuple(u * g for u in g_units),
                            bottom=bottom, axis_name=axis_name, num_classes=k),
            ResNetDiscriminator(widths=tuple(u * d for u in d_units), downs=downs,
                                axis_name=axis_name, num_classes=k))
