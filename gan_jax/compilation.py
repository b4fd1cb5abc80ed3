"""JAX's persistent compilation cache, set up for gan_jax's entry points."""

from __future__ import annotations

import os

import jax

_COMPILATION_CACHE_BYTES = 4 * 2**30


def use_compilation_cache(directory: str) -> None:
    """Points JAX's persistent compilation cache at ``directory`` ("" changes nothing).

    A program compiled once (the train step, the evaluation's generator) is stored there and
    loaded, not compiled, by every later process that builds the identical program: a
    resumed or repeated run, a sweep's next seed. The size bound (least recently used entries
    go first) also makes JAX lock the cache, so concurrent processes may share it.
    """
    if not directory:
        return
    path = os.path.abspath(os.path.expanduser(directory))
    if jax.config.jax_compilation_cache_dir == path:
        return
    from jax.experimental.compilation_cache import compilation_cache

    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_compilation_cache_max_size", _COMPILATION_CACHE_BYTES)
    compilation_cache.reset_cache()  # JAX reads the setting once; this makes it read it again
