"""Drawing from a GAN: fixed latents and labels, and batched generation.

- :func:`fixed_latents`, :func:`fixed_labels`: the latents and labels of pictures and
  evaluations, functions of the seed and a purpose id only, so an evaluation inside
  training and ``gan-jax eval`` of the same checkpoint score the same samples, and
  drawing never touches the training state's keys.
- :func:`grid_labels`: the labels by which a conditional model's grid is drawn, one row
  per class.
- :class:`Generator`: G's samples in evaluation mode, in jitted batches of one shape.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import state as state_lib

# Purpose ids folded into the seed for fixed latents; none is a train-step purpose.
PICTURES = 0x5A4D      # the sample grids (scatter plots) drawn during training
EVALUATION = 0xE7A1    # the samples every evaluation scores
SAMPLE_COMMAND = 0x5C11  # `gan-jax sample --seed S`


def spec_of(gan: state_lib.GAN):
    """The data spec a GAN was built for (shape and number of classes)."""
    from gan_jax.data import Spec

    return Spec(gan.data_shape, None, gan.num_classes)


def fixed_latents(seed: int, purpose: int, shape: tuple[int, ...]) -> jax.Array:
    """Standard-normal latents of ``shape`` from ``fold_in(PRNGKey(seed), purpose)``."""
    key = jax.random.fold_in(jax.random.PRNGKey(seed), purpose)
    return jax.random.normal(key, shape, jnp.float32)


def fixed_labels(n: int, num_classes: int | None) -> jax.Array | None:
    """Labels of fixed samples: ``i mod K`` for sample i, every class equally often (None
    for unlabelled data). The pictures regroup them one row per class
    (``gan_jax.plotting.class_rows``), so a grid's rows are classes 0, 1, ... in order."""
    if not num_classes:
        return None
    return jnp.arange(n, dtype=jnp.int32) % num_classes


def grid_labels(config, y) -> np.ndarray | None:
    """The labels a picture groups its rows by: ``y`` for a conditional model
    (``config.model.conditioning`` other than "none"), None otherwise (a G that ignores its
    labels draws no classes)."""
    if y is None or config.model.get("conditioning", "none") == "none":
        return None
    return np.asarray(y)


class Generator:
    """G's samples in evaluation mode (the EMA parameters when kept), as NumPy.

    Generation runs in jitted batches of ``batch`` examples (the last one padded), so it
    compiles once whatever the number of samples.
    """

    def __init__(self, gan: state_lib.GAN, batch: int = 500):
        self.batch = int(batch)
        self._apply = jax.jit(lambda p, s, z, y: gan.g_apply(p, s, z, y))

    def __call__(self, state: state_lib.GANState, z, y=None) -> np.ndarray:
        """Samples [N, *data_shape] float32 of latents z [N, latent_dim] and labels y [N]."""
        n = z.shape[0]
        params = state_lib.sampling_params(state)
        parts = []
        for start in range(0, n, self.batch):
            zb = z[start:start + self.batch]
            yb = None if y is None else y[start:start + self.batch]
            pad = self.batch - zb.shape[0]
            if pad and n > self.batch:
                zb = jnp.concatenate([zb, jnp.zeros((pad, zb.shape[1]), zb.dtype)])
                yb = None if yb is None else jnp.concatenate([yb, jnp.zeros((pad,), yb.dtype)])
            out = np.asarray(self._apply(params, state.g_batch_stats, zb, yb))
            parts.append(out[:out.shape[0] - pad] if pad and n > self.batch else out)
        return np.concatenate(parts)
