"""The DCGAN-style convolutional GAN of InfoGAN, as used by Lucic et al. (2018).

"Are GANs Created Equal? A Large-Scale Study" (Lucic et al., NeurIPS 2018) uses
the InfoGAN architecture (Chen et al., 2016) for its 28x28 datasets:

  G: z -> fc 1024 -> BN -> ReLU -> fc (H/4)(W/4)128 -> BN -> ReLU
       -> deconv 64 (4x4, stride 2) -> BN -> ReLU -> deconv C (4x4, stride 2) -> tanh
  D: x -> conv 64 (4x4, stride 2) -> lReLU(0.2) -> conv 128 (4x4, stride 2) -> BN -> lReLU
       -> fc 1024 -> BN -> lReLU -> fc 1

Weights start from N(0, 0.02), biases from 0. The same modules serve 28x28x1 and
32x32x3 images (any square side divisible by 4). G's tanh output matches data
scaled to [-1, 1]; D returns a raw score per sample [B]. Both transposed
convolutions compute exactly what ``nn.ConvTranspose`` computes:
:class:`~gan_jax.models.layers.PhaseConvTranspose` for the first, whose plain form
has a backward pass several times slower on XLA:CPU (``BENCHMARKS.md``, per-layer
table), and :class:`~gan_jax.models.layers.SubPixelConvTranspose` for the last
(1 or 3 output channels), where the plain form is faster alone but a whole train
step takes the same time either way, within noise. D's first convolution is
:class:`~gan_jax.models.layers.PatchConv`, the same function as ``nn.Conv``.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.conditioning import (
    check_acgan_weight,
    conditioning_classes,
    label_planes,
    sow_class_logits,
    with_label,
)
from gan_jax.models.layers import (
    PatchConv,
    PhaseConvTranspose,
    SubPixelConvTranspose,
    sn_layer,
)

_init = nn.initializers.normal(0.02)


def _batch_norm(train: bool, axis_name: str | None, **kwargs) -> nn.BatchNorm:
    # axis_name averages batch statistics over the "data" axis inside shard_map.
    # Batch norm computes in float32 whatever the layers' compute dtype.
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                        axis_name=axis_name, dtype=jnp.float32, **kwargs)


class ConditionalBatchNorm(nn.Module):
    """Batch norm whose gain and bias are looked up per class (de Vries et al. 2017; the
    conditional BN of Miyato & Koyama 2018): normalise without an affine map, then
    ``gain[y] * h + bias[y]``, gains starting at 1 and biases at 0 (a gain starting at 0
    would zero every activation: G would start blind to z)."""

    num_classes: int
    axis_name: str | None = None

    @nn.compact
    def __call__(self, h: jax.Array, y: jax.Array, train: bool) -> jax.Array:
        h = _batch_norm(train, self.axis_name, use_scale=False, use_bias=False)(h)
        c = h.shape[-1]
        gain = nn.Embed(self.num_classes, c, embedding_init=nn.initializers.ones,
                        name="gain")(y)
        bias = nn.Embed(self.num_classes, c, embedding_init=nn.initializers.zeros,
                        name="bias")(y)
        shape = (h.shape[0],) + (1,) * (h.ndim - 2) + (c,)
        return h * gain.reshape(shape) + bias.reshape(shape)


class DCGANGenerator(nn.Module):
    """z [B, latent] float32 -> images [B, H, W, C] in [-1, 1].

    Initialise with ``train=False``: with ``train=True`` BatchNorm reduces over
    ``axis_name``, which is only bound inside shard_map.
    """

    output_shape: tuple[int, int, int]      # (H, W, C)
    axis_name: str | None = None
    dtype: Any = jnp.float32                # compute dtype of the layers; output float32
    # "none"; "concat": the one-hot label appended to z; "cbn": conditional batch norm.
    conditioning: str = "none"
    num_classes: int = 0

    @nn.compact
    def __call__(self, z: jax.Array, y: jax.Array | None = None, *,
                 train: bool = True) -> jax.Array:
        h_, w_, c_ = self.output_shape
        dt = self.dtype
        if self.conditioning == "concat":
            z = with_label(z, y, self.num_classes)

        def norm(h):
            if self.conditioning == "cbn":
                return ConditionalBatchNorm(self.num_classes, self.axis_name)(h, y, train)
            return _batch_norm(train, self.axis_name)(h)

        h = nn.Dense(1024, kernel_init=_init, dtype=dt)(z)
        h = nn.relu(norm(h))
        h = nn.Dense((h_ // 4) * (w_ // 4) * 128, kernel_init=_init, dtype=dt)(h)
        h = nn.relu(norm(h))
        h = h.reshape(h.shape[0], h_ // 4, w_ // 4, 128)
        # 64 output channels: one convolution per output phase is fastest.
        h = PhaseConvTranspose(64, 4, 2, kernel_init=_init, dtype=dt)(h)
        h = nn.relu(norm(h))
        # 1 or 3 output channels: one sub-pixel convolution beats four tiny ones.
        h = SubPixelConvTranspose(c_, 4, 2, kernel_init=_init, dtype=dt)(h)
        return nn.tanh(h).astype(jnp.float32)


class DCGANDiscriminator(nn.Module):
    """Images [B, H, W, C] float32 -> raw scores [B]. Initialise with ``train=False``.

    ``spectral_norm``: every conv and dense kernel spectrally normalised (see
    :func:`~gan_jax.models.layers.sn_layer`); the batch norms stay, as in Miyato et al.'s
    DCGAN-style comparisons where they are kept or removed independently.
    """

    axis_name: str | None = None
    spectral_norm: bool = False
    dtype: Any = jnp.float32                # compute dtype of the layers; scores float32
    # "none"; "concat": one-hot label planes appended to the image's channels;
    # "projection": D(x, y) = w . phi(x) + embed(y) . phi(x) (Miyato & Koyama 2018), phi(x)
    # the 1024-d last hidden layer; "acgan": the score ignores y and K class logits of
    # phi(x) are sown (conditioning.sow_class_logits; Odena et al. 2017).
    conditioning: str = "none"
    num_classes: int = 0
    acgan_weight: float = 0.0               # > 0 exactly for "acgan" (the class terms' weight)

    @nn.compact
    def __call__(self, x: jax.Array, y: jax.Array | None = None, *,
                 train: bool = True) -> jax.Array:
        sn, dt = self.spectral_norm, self.dtype
        if self.conditioning == "concat":
            x = label_planes(x, y, self.num_classes)
        # Few input channels: patches times the kernel beats XLA:CPU's convolution. The
        # names keep the parameter tree of two nn.Conv layers (checkpoints load unchanged).
        h = sn_layer(PatchConv(64, 4, stride=2, kernel_init=_init, dtype=dt, name="Conv_0"), x,
                     train, sn)
        h = nn.leaky_relu(h, 0.2)
        h = sn_layer(nn.Conv(128, (4, 4), strides=(2, 2), padding="SAME", kernel_init=_init,
                             dtype=dt, name="Conv_1"), h, train, sn)
        h = nn.leaky_relu(_batch_norm(train, self.axis_name)(h), 0.2)
        h = h.reshape(h.shape[0], -1)
        h = sn_layer(nn.Dense(1024, kernel_init=_init, dtype=dt), h, train, sn)
        h = nn.leaky_relu(_batch_norm(train, self.axis_name)(h), 0.2)
        out = sn_layer(nn.Dense(1, kernel_init=_init, dtype=dt), h, train, sn)[..., 0]
        if self.conditioning == "projection":
            if y is None:
                raise ValueError("a conditional model needs labels y")
            embed = nn.Embed(self.num_classes, h.shape[-1], embedding_init=_init,
                             name="projection")(y)
            out = out + jnp.sum(embed.astype(h.dtype) * h, axis=-1)
        if self.conditioning == "acgan":
            sow_class_logits(self, h, self.num_classes, kernel_init=_init, dtype=dt)
        return out.astype(jnp.float32)


# conditioning -> (G's, D's).
CONDITIONINGS = {"none": ("none", "none"), "concat": ("concat", "concat"),
                 "cbn+projection": ("cbn", "projection"), "acgan": ("concat", "acgan")}


def build(spec, axis_name, *, latent_dim: int = 64, spectral_norm: bool = False,
          conditioning: str = "none", acgan_weight: float = 1.0):
    """The DCGAN pair for square images whose side is divisible by 4 (registry ``dcgan``).

    ``spectral_norm`` applies to D. ``conditioning``: "none" (G and D accept labels and
    ignore them), "concat" (the one-hot label appended to z and, as constant planes, to the
    image's channels: Mirza & Osindero 2014) or "cbn+projection" (conditional batch norm in
    G, a projection discriminator: Miyato & Koyama 2018) or "acgan" (the one-hot label
    appended to z, an unconditional D score and an auxiliary classifier of K logits on D's
    last hidden layer, whose cross-entropy terms enter both losses with weight
    ``acgan_weight``: Odena et al. 2017).
    """
    del latent_dim  # G takes any latent size
    shape = tuple(spec.shape)
    if not (len(shape) == 3 and shape[0] == shape[1] and shape[0] % 4 == 0):
        raise ValueError("config.model.name='dcgan' needs square images with side divisible "
                         f"by 4, got data shape {shape}")
    k = conditioning_classes(conditioning, spec, tuple(CONDITIONINGS), "dcgan")
    g_cond, d_cond = CONDITIONINGS[conditioning]
    weight = check_acgan_weight(conditioning, acgan_weight)
    return (DCGANGenerator(output_shape=shape, axis_name=axis_name, conditioning=g_cond,
                           num_classes=k),
            DCGANDiscriminator(axis_name=axis_name, spectral_norm=spectral_norm,
                               conditioning=d_cond, num_classes=k, acgan_weight=weight))
