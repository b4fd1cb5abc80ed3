"""Differentiable augmentation of D's inputs (DiffAugment, Zhao et al. 2020).

"Differentiable Augmentation for Data-Efficient GAN Training", NeurIPS 2020: D sees
T(x) for real and generated images alike, in D's loss and in G's, with T differentiable so
G's gradient passes through it. One image at a time, from its own key (the training step
derives each example's key from its global index, so one device and N devices draw the
same transformations). Images are [H, W, C] in [-1, 1]. The operations, in this order:

``color``        brightness x + (u - 1/2); saturation (x - m_c) * 2u + m_c with m_c the
                 pixel's channel mean; contrast (x - m) * (u + 1/2) + m with m the image's
                 mean; each u ~ U[0, 1) drawn per image.
``translation``  a shift by (dy, dx), each uniform on the integers in [-s, s] with
                 s = round(side / 8), the uncovered border filled with 0.
``cutout``       a square of side round(side / 2) set to 0, its centre uniform over the
                 image (clipped at the border).

``AUGMENTATIONS`` is the registry; a policy is a tuple of its names.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

TRANSLATION_RATIO = 1 / 8
CUTOUT_RATIO = 1 / 2


def color(x: jax.Array, key: jax.Array) -> jax.Array:
    kb, ks, kc = jax.random.split(key, 3)
    x = x + (jax.random.uniform(kb, (), x.dtype) - 0.5)
    mean = x.mean(axis=-1, keepdims=True)
    x = (x - mean) * (jax.random.uniform(ks, (), x.dtype) * 2) + mean
    mean = x.mean()
    return (x - mean) * (jax.random.uniform(kc, (), x.dtype) + 0.5) + mean


def shift(x: jax.Array, dy: jax.Array, dx: jax.Array, s: int) -> jax.Array:
    """``x`` moved by (dy, dx) pixels (|dy|, |dx| <= s), the uncovered border 0."""
    h, w, c = x.shape
    padded = jnp.pad(x, ((s, s), (s, s), (0, 0)))
    return jax.lax.dynamic_slice(padded, (s - dy, s - dx, 0), (h, w, c))


def translation(x: jax.Array, key: jax.Array) -> jax.Array:
    h, w, _ = x.shape
    sy, sx = int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5)
    s = max(sy, sx)
    ky, kx = jax.random.split(key)
    dy = jax.random.randint(ky, (), -sy, sy + 1)
    dx = jax.random.randint(kx, (), -sx, sx + 1)
    return shift(x, dy, dx, s)


def cutout_mask(shape: tuple[int, ...], cy: jax.Array, cx: jax.Array) -> jax.Array:
    """[H, W, 1]: 0 on the square of side round(side / 2) centred at (cy, cx), else 1."""
    h, w = shape[:2]
    size_y, size_x = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
    rows = jnp.arange(h)[:, None]
    cols = jnp.arange(w)[None, :]
    top, left = cy - size_y // 2, cx - size_x // 2
    inside = (rows >= top) & (rows < top + size_y) & (cols >= left) & (cols < left + size_x)
    return jnp.where(inside, 0.0, 1.0)[..., None]


def cutout(x: jax.Array, key: jax.Array) -> jax.Array:
    h, w, _ = x.shape
    size_y, size_x = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
    ky, kx = jax.random.split(key)
    # Centres as in the authors' code: an even side's square may reach one row further.
    cy = jax.random.randint(ky, (), 0, h + (1 - size_y % 2))
    cx = jax.random.randint(kx, (), 0, w + (1 - size_x % 2))
    return x * cutout_mask(x.shape, cy, cx).astype(x.dtype)


AUGMENTATIONS = {"color": color, "translation": translation, "cutout": cutout}


def augment(x: jax.Array, key: jax.Array, policy: tuple[str, ...]) -> jax.Array:
    """One image ``x`` [H, W, C] under ``policy``, each operation with its own subkey."""
    for i, name in enumerate(policy):
        x = AUGMENTATIONS[name](x, jax.random.fold_in(key, i))
    return x


def parse_policy(text: str) -> tuple[str, ...]:
    """``"color,translation,cutout"`` -> a policy tuple; ValueError names an unknown one."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    for name in names:
        if name not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {name!r} (config.diffaugment); allowed: "
                             + ", ".join(AUGMENTATIONS))
    return names
