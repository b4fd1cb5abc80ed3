"""The DCGAN of Radford et al. for 64x64 images, as in their official faces model.

"Unsupervised Representation Learning with Deep Convolutional Generative Adversarial
Networks" (Radford, Metz & Chintala, ICLR 2016); the layout follows the authors' code
for faces (``faces/train_uncond_dcgan.py`` in Newmu/dcgan_code), with ``f`` filters
(128 there) and ``latent_dim`` (100 there) configurable:

  G: z -> dense 4*4*8f -> BN -> ReLU -> [4, 4, 8f]
       -> deconv 4f -> BN -> ReLU -> deconv 2f -> BN -> ReLU -> deconv f -> BN -> ReLU
       -> deconv C -> tanh                                   [8, 16, 32, 64 pixels]
  D: x -> conv f -> lReLU(0.2) -> conv 2f -> BN -> lReLU -> conv 4f -> BN -> lReLU
       -> conv 8f -> BN -> lReLU -> dense 1                  [32, 16, 8, 4 pixels]

Every (de)convolution is 5x5 with stride 2; no layer has a bias (batch norm's offset
plays its part, and the two output layers have none, as in the official code); batch
norm has a scale and an offset, and its scale starts at N(1, 0.02); the weights start
at N(0, 0.02). As in the official code, the batch norm after G's dense layer
normalises each of its 4*4*8f units. G's output and D's first layer have no batch norm.

Parameter counts (computed from the layers above, checked by tests/test_models.py), for
f = 128, latent 100, C = 3: G 18,885,760 (dense 1,638,400; its batch norm 32,768;
deconvolutions 13,107,200 + 3,276,800 + 819,200 + 9,600; batch norms 1,792) and D
17,232,768 (convolutions 9,600 + 819,200 + 3,276,800 + 13,107,200; batch norms 3,584;
dense 16,384). With f = 64 (the course homework's generator) G has 5,142,080.

The wide deconvolutions are :class:`~gan_jax.models.layers.PhaseConvTranspose` and the
last one :class:`~gan_jax.models.layers.SubPixelConvTranspose`: both compute exactly
``nn.ConvTranspose(..., padding="SAME")`` with its parameters, faster on XLA:CPU.

Conditioning: "none", or "acgan" (Odena et al. 2017): the one-hot label appended to z
(G's dense layer takes latent + K inputs), D's score unconditional and an auxiliary
dense layer from D's flattened last features [4 * 4 * 8f] to K class logits
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
from gan_jax.models.layers import PhaseConvTranspose, SubPixelConvTranspose, sn_layer

_init = nn.initializers.normal(0.02)


def _scale_init(key, shape, dtype=jnp.float32):
    """Batch norm's scale: N(1, 0.02), as the official code's ``gain_ifn``."""
    return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def _batch_norm(train: bool, axis_name: str | None) -> nn.BatchNorm:
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                        axis_name=axis_name, scale_init=_scale_init, dtype=jnp.float32)


class DCGAN64Generator(nn.Module):
    """z [B, latent] float32 -> images [B, 64, 64, C] in [-1, 1]. Initialise with train=False."""

    channels: int = 3
    f: int = 128
    axis_name: str | None = None
    dtype: Any = jnp.float32
    num_classes: int = 0    # > 0: the one-hot label is appended to z (AC-GAN)

    @nn.compact
    def __call__(self, z: jax.Array, y: jax.Array | None = None, *,
                 train: bool = True) -> jax.Array:
        f, dt = self.f, self.dtype
        z = with_label(z, y, self.num_classes)
        h = nn.Dense(4 * 4 * 8 * f, use_bias=False, kernel_init=_init, dtype=dt)(z)
        h = nn.relu(_batch_norm(train, self.axis_name)(h)).reshape(-1, 4, 4, 8 * f)
        for width in (4 * f, 2 * f, f):
            h = PhaseConvTranspose(width, 5, 2, kernel_init=_init, use_bias=False,
                                   dtype=dt)(h)
            h = nn.relu(_batch_norm(train, self.axis_name)(h))
        h = SubPixelConvTranspose(self.channels, 5, 2, kernel_init=_init, use_bias=False,
                                  dtype=dt)(h)
        return nn.tanh(h).astype(jnp.float32)


class DCGAN64Discriminator(nn.Module):
    """Images [B, 64, 64, C] float32 -> raw scores [B]. Initialise with train=False.

    ``spectral_norm``: every conv and dense kernel spectrally normalised.
    """

    f: int = 128
    axis_name: str | None = None
    spectral_norm: bool = False
    dtype: Any = jnp.float32
    acgan_classes: int = 0     # > 0: AC-GAN's K class logits of the last features
    acgan_weight: float = 0.0  # > 0 exactly when acgan_classes > 0

    @nn.compact
    def __call__(self, x: jax.Array, y: jax.Array | None = None, *,
                 train: bool = True) -> jax.Array:
        del y  # the score is unconditional
        f, sn, dt = self.f, self.spectral_norm, self.dtype
        for i, width in enumerate((f, 2 * f, 4 * f, 8 * f)):
            conv = nn.Conv(width, (5, 5), strides=(2, 2), padding="SAME", use_bias=False,
                           kernel_init=_init, dtype=dt)
            x = sn_layer(conv, x, train, sn)
            if i > 0:
                x = _batch_norm(train, self.axis_name)(x)
            x = nn.leaky_relu(x, 0.2)
        x = x.reshape(x.shape[0], -1)
        if self.acgan_classes:
            sow_class_logits(self, x, self.acgan_classes, use_bias=False, kernel_init=_init,
                             dtype=dt)
        out = sn_layer(nn.Dense(1, use_bias=False, kernel_init=_init, dtype=dt), x, train, sn)
        return out[..., 0].astype(jnp.float32)


def build(spec, axis_name, *, latent_dim: int = 100, f: int = 128,
          spectral_norm: bool = False, conditioning: str = "none", acgan_weight: float = 1.0):
    """Radford et al.'s DCGAN for 64x64 images with 1 or 3 channels (registry ``dcgan64``).

    ``f``: G's last and D's first number of filters (128 in the paper's faces model);
    ``spectral_norm`` applies to D; ``conditioning`` is "none" or "acgan" (``acgan_weight``:
    the weight of the class terms in both losses).
    """
    del latent_dim  # G takes any latent size
    shape = tuple(spec.shape)
    if shape not in ((64, 64, 1), (64, 64, 3)):
        raise ValueError("config.model.name='dcgan64' needs 64x64 images with 1 or 3 "
                         f"channels, got data shape {shape} (set config.data.resolution=64)")
    k = conditioning_classes(conditioning, spec, ("none", "acgan"), "dcgan64")
    weight = check_acgan_weight(conditioning, acgan_weight)
    return (DCGAN64Generator(channels=shape[2], f=f, axis_name=axis_name, num_classes=k),
            DCGAN64Discriminator(f=f, axis_name=axis_name, spectral_norm=spectral_norm,
                                 acgan_classes=k, acgan_weight=weight))
