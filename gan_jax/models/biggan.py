"""BigGAN-style generator and discriminator for 32x32, 64x64 and 128x128 images (Brock et
al., "Large Scale GAN Training for High Fidelity Natural Image Synthesis", ICLR 2019).

  G: z [B, latent] split into n + 1 equal chunks z_0 .. z_n (the hierarchical latent; n the
     number of blocks); e = shared class embedding of y [B, shared_dim]
     z_0 -> linear -> [B, 4, 4, c_0] -> n up-sampling residual blocks (those of SNGAN,
     ``gan_jax/models/resnet.py``), block i's batch norms taking their gain and bias from a
     linear map of [e, z_i]: gain = 1 + W_g [e, z_i], bias = W_b [e, z_i]
     (self-attention after the block whose output side is ``attention``)
     -> BN -> ReLU -> conv3x3 C -> tanh                                     [B, H, W, C]
  D: x -> residual blocks as SNGAN's with wide hidden layers (each block's first
     convolution already has the output's width), self-attention after the block whose
     output side is ``attention`` (if any) -> ReLU -> global sum pooling phi(x)
     -> linear + <embed(y), phi(x)> (projection)                                       [B]

Spectral norm wraps every convolution, linear map and D's embedding in both networks (G's
shared embedding excepted, as in the reference); weights start orthogonal, biases at 0. The
self-attention block is SAGAN's (Zhang et al. 2019): 1x1 convolutions to C/8 (query, key)
and C/2 (value) channels, keys and values max-pooled 2x2, output x + gamma o(attention) with
gamma starting at 0, so the block starts as the identity.

Widths (in units of ``g_ch``/``d_ch``) and down-samplings are those of the public
BigGAN-PyTorch code (ajbrock/BigGAN-PyTorch, ``BigGAN.py``, its ``G_arch``/``D_arch``);
``tests/test_biggan.py`` checks parameter counts against it. With ``conditioning="none"``
the batch norms read z_i alone and D has no projection.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.conditioning import conditioning_classes
from gan_jax.models.layers import sn_layer
from gan_jax.models.resnet import DBlock, GBlock, batch_norm, projection_head

ortho = nn.initializers.orthogonal()


class LinearConditionalBatchNorm(nn.Module):
    """Batch norm without its own affine map, then ``(1 + W_g c) * h + W_b c`` per example:
    gain and bias linear (no bias term, spectrally normalised) in a conditioning vector
    ``c`` [B, n]. The gain's offset of 1 makes a block start near the unconditional batch
    norm whatever W_g's initialisation (an offset of 0 would start every gain near 0)."""

    axis_name: str | None = None
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, h: jax.Array, c: jax.Array, train: bool) -> jax.Array:
        h = batch_norm(train, self.axis_name, use_scale=False, use_bias=False)(h)
        ch = h.shape[-1]
        gain = 1.0 + sn_layer(nn.Dense(ch, use_bias=False, kernel_init=ortho, dtype=self.dtype,
                                       name="gain"), c, train, True)
        bias = sn_layer(nn.Dense(ch, use_bias=False, kernel_init=ortho, dtype=self.dtype,
                                 name="bias"), c, train, True)
        shape = (h.shape[0], 1, 1, ch)
        return (h * gain.reshape(shape).astype(jnp.float32)
                + bias.reshape(shape).astype(jnp.float32))


class SelfAttention(nn.Module):
    """SAGAN's self-attention with BigGAN's pooled keys: [B, H, W, C] -> [B, H, W, C].

    ``x + gamma * o(softmax(theta(x) phi(x)^T) g(x))`` with theta, phi 1x1 convolutions to
    C/8 channels, g to C/2, phi and g max-pooled 2x2, o back to C; all spectrally
    normalised, no biases. ``gamma`` starts at 0: the block starts as the identity.
    """

    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        b, h, w, c = x.shape
        dt = self.dtype

        def conv(v, features, name):
            layer = nn.Conv(features, (1, 1), use_bias=False, kernel_init=ortho, dtype=dt,
                            name=name)
            return sn_layer(layer, v, train, True)

        def pool(v):
            return nn.max_pool(v, (2, 2), (2, 2))

        theta = conv(x, c // 8, "theta").reshape(b, h * w, c // 8)
        phi = pool(conv(x, c // 8, "phi")).reshape(b, h * w // 4, c // 8)
        g = pool(conv(x, c // 2, "g")).reshape(b, h * w // 4, c // 2)
        logits = jnp.einsum("bqc,bkc->bqk", theta, phi).astype(jnp.float32)
        beta = jax.nn.softmax(logits, axis=-1).astype(dt)
        o = conv(jnp.einsum("bqk,bkc->bqc", beta, g).reshape(b, h, w, c // 2), c, "o")
        gamma = self.param("gamma", nn.initializers.zeros, ())
        return x + gamma.astype(dt) * o


class BigGANGenerator(nn.Module):
    """z [B, latent] float32 and labels y [B] int32 -> images [B, H, W, C] in [-1, 1].

    ``widths``: the 4x4 feature map's channels, then each block's output channels.
    Initialise with ``train=False``.
    """

    output_shape: tuple[int, int, int]      # (H, W, C)
    widths: tuple[int, ...]
    attention: int                          # side after which self-attention runs
    shared_dim: int = 128
    axis_name: str | None = None
    num_classes: int = 0                    # > 0: the shared class embedding joins each z_i
    dtype: Any = jnp.float32                # compute dtype of the layers; output float32

    @nn.compact
    def __call__(self, z: jax.Array, y: jax.Array | None = None, *,
                 train: bool = True) -> jax.Array:
        dt, blocks = self.dtype, len(self.widths) - 1
        if z.shape[-1] % (blocks + 1):
            raise ValueError(f"BigGAN's generator splits z into {blocks + 1} chunks; "
                             f"got latent size {z.shape[-1]}")
        chunks = jnp.split(z, blocks + 1, axis=-1)
        if self.num_classes:
            if y is None:
                raise ValueError("a conditional model needs labels y")
            e = nn.Embed(self.num_classes, self.shared_dim, embedding_init=ortho,
                         name="shared")(y).astype(z.dtype)
        h = sn_layer(nn.Dense(16 * self.widths[0], kernel_init=ortho, dtype=dt), chunks[0],
                     train, True)
        h = h.reshape(z.shape[0], 4, 4, self.widths[0])
        axis_name = self.axis_name
        norm = lambda name: LinearConditionalBatchNorm(axis_name, dt, name=name)
        for i, width in enumerate(self.widths[1:]):
            c = jnp.concatenate([e, chunks[i + 1]], -1) if self.num_classes else chunks[i + 1]
            h = GBlock(width, norm, spectral_norm=True, residual_init=ortho,
                       shortcut_init=ortho, dtype=dt)(h, c, train)
            if h.shape[1] == self.attention:
                h = SelfAttention(dt)(h, train)
        h = nn.relu(batch_norm(train, self.axis_name)(h)).astype(dt)
        h = sn_layer(nn.Conv(self.output_shape[-1], (3, 3), padding="SAME", kernel_init=ortho,
                             dtype=dt), h, train, True)
        return nn.tanh(h).astype(jnp.float32)


class BigGANDiscriminator(nn.Module):
    """Images [B, H, W, C] float32 and labels y [B] -> raw scores [B].

    ``widths``: each block's output channels; ``downs``: whether it halves the size.
    Initialise with ``train=False``.
    """

    widths: tuple[int, ...]
    downs: tuple[bool, ...]
    attention: int
    axis_name: str | None = None            # unused: D has no batch norm
    num_classes: int = 0                    # > 0: projection discriminator
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, y: jax.Array | None = None, *,
                 train: bool = True) -> jax.Array:
        h = x
        for i, (width, down) in enumerate(zip(self.widths, self.downs, strict=True)):
            h = DBlock(width, width, down=down, first=i == 0, residual_init=ortho,
                       shortcut_init=ortho, dtype=self.dtype)(h, train)
            if h.shape[1] == self.attention and (i + 1 == len(self.widths)
                                                 or self.downs[i + 1]):
                h = SelfAttention(self.dtype)(h, train)
        h = jnp.sum(nn.relu(h), axis=(1, 2))
        return projection_head(self, h, y, self.num_classes, train, ortho, self.dtype)


# side -> (G's widths in units of g_ch: the 4x4 map's, then each block's output),
# (D's widths in units of d_ch), (D's down-samplings).
BIGGAN_ARCHS = {
    32: ((4, 4, 4, 4), (4, 4, 4, 4), (True, True, False, False)),
    64: ((16, 16, 8, 4, 2), (1, 2, 4, 8, 16), (True, True, True, True, False)),
    128: ((16, 16, 8, 4, 2, 1), (1, 2, 4, 8, 16, 16), (True, True, True, True, True, False)),
}
CONDITIONINGS = ("none", "cbn+projection")


def build(spec, axis_name, *, latent_dim: int = 120, g_ch: int = 64, d_ch: int = 64,
          shared_dim: int = 128, attention: int = 32, conditioning: str = "none"):
    """The BigGAN-style pair for 32x32, 64x64 or 128x128 images (registry ``biggan``).

    ``latent_dim`` must split into one chunk per block plus one (4, 5, 6 chunks at 32, 64,
    128); ``g_ch``/``d_ch`` are the width multipliers (multiples of 8, so that attention's
    C/8 is whole); ``attention`` is the side of the feature maps after which self-attention
    runs in G (8 up to the image side) and in D (after the last block of that side, if D
    has one). ``conditioning``: "none" or "cbn+projection" (shared embedding into G's batch
    norms, projection D).
    """
    shape = tuple(spec.shape)
    if not (len(shape) == 3 and shape[0] == shape[1] and shape[0] in BIGGAN_ARCHS):
        raise ValueError("config.model.name='biggan' needs square images of side "
                         f"{', '.join(map(str, BIGGAN_ARCHS))}, got data shape {shape}")
    g_units, d_units, downs = BIGGAN_ARCHS[shape[0]]
    chunks = len(g_units)
    if latent_dim % chunks:
        raise ValueError(f"config.model.latent_dim={latent_dim} must be divisible by "
                         f"{chunks} (one chunk per block of G plus one at side {shape[0]})")
    for field, value in (("g_ch", g_ch), ("d_ch", d_ch)):
        if value % 8:
            raise ValueError(f"config.model.{field}={value} must be a multiple of 8")
    sides = [8 * 2 ** i for i in range(chunks - 1)]
    if attention not in sides:
        raise ValueError(f"config.model.attention={attention} must be one of G's feature-map "
                         f"sides {', '.join(map(str, sides))} at side {shape[0]}")
    k = conditioning_classes(conditioning, spec, CONDITIONINGS, "biggan")
    return (BigGANGenerator(output_shape=shape, widths=tuple(u * g_ch for u in g_units),
                            attention=attention, shared_dim=shared_dim, axis_name=axis_name,
                            num_classes=k),
            BigGANDiscriminator(widths=tuple(u * d_ch for u in d_units), downs=downs,
                                attention=attention, axis_name=axis_name, num_classes=k))
