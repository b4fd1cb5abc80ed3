"""Model registry: ``config.model.name`` -> the module's ``build`` function.

A model's config fields are the keyword-only arguments of its ``build``; the
registry checks ``config.model`` against that signature (an unknown field, or a
required one missing, is one line), so adding a model is one module with a
``build`` plus one line in :data:`MODELS`. :func:`model_config` makes the config
group of a model with its defaults.

``build(spec, axis_name, *, latent_dim, ...)`` returns two Linen modules:
G maps ``(z [B, latent_dim] float32, y [B] int32 or None)`` to samples
``[B, *spec.shape]`` in the data's range, and D maps ``(x, y)`` to raw scores [B].
Unconditional models accept ``y`` and ignore it. ``spec`` is the data source's
:class:`gan_jax.data.Spec` (shape, value range, number of classes); ``axis_name``
is the mapped axis over which BatchNorm averages batch statistics (None outside
shard_map). ``build`` raises ValueError (one line) for a shape or a conditioning the
model cannot serve, so the config validator can stop before anything is compiled.

One field belongs to every model: ``pack`` (default 1, and absent from a model group
until set), the packing of Lin et al., "PacGAN: The power of two samples in generative
adversarial networks", NeurIPS 2018. D then scores ``pack`` examples at once, concatenated
along the last axis (:func:`pack_examples`); the step packs real with real and generated with
generated (``GAN.pack_input``), so D's own layers are unchanged and take the wider input.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections

from gan_jax.data import Spec
from gan_jax.models import biggan, dcgan, dcgan64, mlp, pacgan, resnet

# name -> build(spec, axis_name, **fields) -> (generator, discriminator).
MODELS: dict[str, Callable] = {
    "mlp": mlp.build,
    "dcgan": dcgan.build,
    "dcgan64": dcgan64.build,
    "resnet": resnet.build,
    "biggan": biggan.build,
    "pacgan_mlp": pacgan.build_mlp,
    "pacgan_dcgan": pacgan.build_dcgan,
}


# Fields every model takes besides its build's: name -> default.
GENERIC_FIELDS = {"pack": 1}


def pack_examples(x: jax.Array, m: int) -> jax.Array:
    """Groups of ``m`` consecutive examples, concatenated along the last axis.

    ``x`` [B, ..., C] -> [B / m, ..., m C]: toy vectors [B, d] -> [B / m, m d], images
    [B, H, W, C] -> [B / m, H, W, m C]; group g holds examples g m .. g m + m - 1, in order.
    """
    if m == 1:
        return x
    b = x.shape[0]
    if b % m:
        raise ValueError(f"a batch of {b} examples cannot be packed in groups of {m}")
    grouped = jnp.moveaxis(x.reshape(b // m, m, *x.shape[1:]), 1, -2)
    return grouped.reshape(b // m, *x.shape[1:-1], m * x.shape[-1])


def pack_of(model_config) -> int:
    """``config.model.pack`` (1 when the group does not set it)."""
    return int(model_config.get("pack", GENERIC_FIELDS["pack"]))


def _unknown_model(name) -> ValueError:
    return ValueError(f"unknown model {name!r} (config.model.name); allowed: "
                      + ", ".join(sorted(MODELS)))


def fields(name: str) -> dict[str, inspect.Parameter]:
    """The config fields of model ``name``: its build's keyword-only parameters."""
    if name not in MODELS:
        raise _unknown_model(name)
    return {p.name: p for p in inspect.signature(MODELS[name]).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


def model_config(name: str, **values) -> ml_collections.ConfigDict:
    """``config.model`` for model ``name``: every field with its default, then ``values``."""
    known = fields(name)
    unknown = sorted(set(values) - set(known) - set(GENERIC_FIELDS))
    if unknown:
        raise ValueError(f"model {name!r} has no field {unknown[0]!r}; its fields: "
                         + ", ".join(known))
    defaults = {k: p.default for k, p in known.items() if p.default is not inspect.Parameter.empty}
    return ml_collections.ConfigDict({"name": name, **defaults, **values})


def _as_spec(spec) -> Spec:
    return spec if isinstance(spec, Spec) else Spec(tuple(spec), None, None)


def build_models(model_config, spec, axis_name: str | None = None,
                 compute_dtype: str = "float32"):
    """(generator, discriminator) of ``model_config`` for the data ``spec``.

    ``spec`` is a :class:`gan_jax.data.Spec`, or one example's shape (unlabelled data).
    ``compute_dtype`` ("float32" or "bfloat16") is the dtype the layers compute in
    (every model has a ``dtype`` attribute); parameters, batch norm and the outputs stay
    float32. Raises ValueError (one line) for an unknown name or field, a missing field,
    or data the model cannot serve.
    """
    name = model_config.name
    known = fields(name)
    given = {k: v for k, v in model_config.items() if k != "name" and k not in GENERIC_FIELDS}
    _check_pack(model_config.get("pack", 1), given.get("conditioning", "none"))
    for key in given:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean config.model.{close[0]}? " if close else ""
            raise ValueError(f"unknown field config.model.{key} of model {name!r}; {hint}"
                             "allowed fields: " + ", ".join(known))
    missing = [k for k, p in known.items()
               if p.default is inspect.Parameter.empty and k not in given]
    if missing:
        raise ValueError(f"config.model.{missing[0]} is missing; model {name!r} needs it")
    for key, value in given.items():
        _check_type(key, value, known[key].default)
    generator, discriminator = MODELS[name](_as_spec(spec), axis_name, **given)
    dtype = jnp.dtype(compute_dtype)
    return generator.clone(dtype=dtype), discriminator.clone(dtype=dtype)


def _check_pack(pack, conditioning) -> None:
    """``pack`` must be a positive integer, and > 1 only with an unconditional D."""
    _check_type("pack", pack, GENERIC_FIELDS["pack"])
    if pack > 1 and conditioning != "none":
        raise ValueError(f"config.model.pack={pack} packs examples of different labels; it "
                         f"needs config.model.conditioning='none' (got {conditioning!r})")


def _check_type(key: str, value, default) -> None:
    """A field's value must have its default's type; ints must be positive."""
    if default is inspect.Parameter.empty or default is None:
        return
    if isinstance(default, bool):
        ok, what = isinstance(value, bool), "True or False"
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        what = "a positive integer"
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        what = "a number"
    elif isinstance(default, str):
        ok, what = isinstance(value, str), "a string"
    else:
        return
    if not ok:
        raise ValueError(f"config.model.{key}={value!r} must be {what}")


def check_model(model_config, spec) -> None:
    """Raises ValueError (one line) if ``model_config`` cannot serve the data ``spec``."""
    build_models(model_config, spec)


def migrate_saved(model: dict) -> dict:
    """A ``config.model`` read from an older run's config.json, with the fields its model
    does not take dropped: before models owned their fields, every run's model group held
    the MLP's ``hidden`` and ``depth``, which other models ignored."""
    if model.get("name") not in MODELS:
        return model
    known = fields(model["name"])
    return {k: v for k, v in model.items()
            if k == "name" or k in known or k in GENERIC_FIELDS}
