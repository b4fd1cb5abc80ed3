"""Model registry: ``config.model.name`` -> (generator, discriminator) builder.

A builder takes ``(model_config, data_shape, axis_name)`` and returns two Linen
modules: G maps z [B, latent_dim] float32 to samples [B, *data_shape] in the
data's range, D maps samples to raw scores [B]. ``axis_name`` is the mapped axis
over which BatchNorm averages batch statistics (None outside shard_map).

:func:`check_model` validates a config without building anything, so the config
validator can stop on an unknown name or an impossible data shape with one line
before anything is compiled.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp

from gan_jax.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_jax.models.mlp import MLPDiscriminator, MLPGenerator


def _check_mlp(model_config, data_shape) -> None:
    if len(data_shape) != 1:
        raise ValueError(f"config.model.name='mlp' needs flat vectors (toy data), got data "
                         f"shape {tuple(data_shape)}; use config.model.name='dcgan' for images")


def _check_dcgan(model_config, data_shape) -> None:
    ok = len(data_shape) == 3 and data_shape[0] == data_shape[1] and data_shape[0] % 4 == 0
    if not ok:
        raise ValueError("config.model.name='dcgan' needs square images with side divisible "
                         f"by 4, got data shape {tuple(data_shape)}")


def _mlp(model_config, data_shape, axis_name):
    del axis_name  # no batch norm in the MLPs
    hidden, depth = model_config.get("hidden", 128), model_config.get("depth", 3)
    return (MLPGenerator(out_dim=data_shape[0], hidden=hidden, depth=depth),
            MLPDiscriminator(hidden=hidden, depth=depth,
                             spectral_norm=model_config.get("spectral_norm", False)))


def _dcgan(model_config, data_shape, axis_name):
    return (DCGANGenerator(output_shape=tuple(data_shape), axis_name=axis_name),
            DCGANDiscriminator(axis_name=axis_name,
                               spectral_norm=model_config.get("spectral_norm", False)))


# name -> builder (model_config, data_shape, axis_name) -> (generator, discriminator).
MODELS: dict[str, Callable] = {
    "mlp": _mlp,
    "dcgan": _dcgan,
}

# name -> shape check; kept beside MODELS so a new model adds one line to each.
_CHECKS: dict[str, Callable] = {
    "mlp": _check_mlp,
    "dcgan": _check_dcgan,
}


def check_model(model_config, data_shape: tuple[int, ...]) -> None:
    """Raises ValueError (one line) for an unknown name or an impossible data shape."""
    if model_config.name not in MODELS:
        raise ValueError(f"unknown model {model_config.name!r} (config.model.name); allowed: "
                         + ", ".join(sorted(MODELS)))
    _CHECKS[model_config.name](model_config, tuple(data_shape))


def build_models(model_config, data_shape: tuple[int, ...], axis_name: str | None = None,
                 compute_dtype: str = "float32"):
    """(generator, discriminator) for ``model_config.name`` and one example's shape.

    ``data_shape`` excludes the batch axis: (d,) for toy vectors, (H, W, C) for images.
    ``compute_dtype`` ("float32" or "bfloat16") is the dtype the layers compute in
    (every model has a ``dtype`` field); parameters, batch norm and the outputs stay
    float32.
    """
    check_model(model_config, data_shape)
    generator, discriminator = MODELS[model_config.name](model_config, tuple(data_shape),
                                                         axis_name)
    dtype = jnp.dtype(compute_dtype)
    return generator.clone(dtype=dtype), discriminator.clone(dtype=dtype)
