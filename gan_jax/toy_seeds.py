"""One toy config trained for several seeds at once: gan_jax's train step vmapped over seeds.

A toy run lives entirely on the device (the mixture is sampled inside the step), so the
seeds of one config can share one compiled program: :func:`train_seeds` stacks the states
of ``seeds`` along a leading axis, vmaps :func:`gan_jax.steps.train_step` over it and scans
``chunk`` steps per call. Each seed's run is the run ``train_and_evaluate`` makes with
``config.seed = seed`` on one device (same initial state, same per-step keys, same data);
only float rounding may differ, because XLA batches the seeds' matrix products.

The step's collectives (``lax.pmean`` / ``axis_index`` over ``steps.AXIS``) are given a
mapped axis of size one inside the per-seed function, so they are identities, exactly as
on a one-device mesh. Nothing is checkpointed or logged: this is for short sweeps that
finish in one call (the paper reproductions); long runs belong to ``train_and_evaluate``.

Shapes: every leaf of the returned state has a leading axis [S] (S = len(seeds));
:func:`sample_seeds` returns samples [S, N, d] float32.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax import lax

from gan_jax import runs, sampling, state as state_lib, steps
from gan_jax.errors import ConfigError


def _setup(config: ml_collections.ConfigDict):
    """(gan, source) of a validated toy config; ConfigError for data drawn on the host."""
    source, gan = runs.build(config, num_devices=1, axis_name=steps.AXIS)
    if not source.in_step:
        raise ConfigError(f"config.data.name={config.data.name!r} is read on the host; "
                          "toy_seeds trains only data drawn inside the step (toy mixtures)")
    return gan, source


def init_seeds(config: ml_collections.ConfigDict, seeds: Sequence[int]) -> state_lib.GANState:
    """The initial states of ``seeds``, stacked along a leading axis [S]."""
    gan, _ = _setup(config)
    states = [state_lib.init_state(gan, int(seed)) for seed in seeds]
    return jax.tree.map(lambda *xs: jnp.stack(xs), *states)


def train_seeds(config: ml_collections.ConfigDict, seeds: Sequence[int],
                chunk: int = 250) -> state_lib.GANState:
    """Trains ``config`` (a toy) for ``config.num_steps`` steps for every seed; stacked states.

    ``config.seed`` is ignored (each run gets its own seed from ``seeds``). ``chunk`` steps
    run per compiled call (a remainder compiles once more).
    """
    if not seeds or len(set(int(s) for s in seeds)) != len(seeds):
        raise ValueError(f"seeds={list(seeds)!r} must be a non-empty list of distinct ints")
    if chunk < 1:
        raise ValueError(f"chunk={chunk!r} must be a positive number of steps")
    gan, source = _setup(config)
    states = init_seeds(config, seeds)
    sampler = source.sample

    def one_seed(state):
        # A mapped axis of size one named like the mesh axis: the step's pmean and
        # axis_index see one device.
        new, _ = jax.vmap(
            lambda s: steps.train_step(gan, s, None, local_batch=config.batch_size,
                                       sampler=sampler),
            axis_name=steps.AXIS)(jax.tree.map(lambda x: x[None], state))
        return jax.tree.map(lambda x: x[0], new)

    step_all = jax.vmap(one_seed)

    def run(states, length):
        return lax.scan(lambda s, _: (step_all(s), None), states, None, length=length)[0]

    run = jax.jit(run, static_argnums=1, donate_argnums=0)
    done = 0
    while done < config.num_steps:
        length = min(chunk, config.num_steps - done)
        states = run(states, length)
        done += length
    return states


def sample_seeds(config: ml_collections.ConfigDict, states: state_lib.GANState,
                 seeds: Sequence[int], num: int | None = None) -> np.ndarray:
    """Samples [S, num, d] of each seed's generator (EMA weights when kept), from the fixed
    evaluation latents that ``train_and_evaluate`` uses for that seed's pictures and mode
    statistics (``num`` defaults to ``config.num_toy_samples``)."""
    gan, _ = _setup(config)
    num = config.num_toy_samples if num is None else num

    y = sampling.fixed_labels(num, gan.num_classes)

    def one(state, seed):
        z = sampling.fixed_latents(seed, sampling.PICTURES, (num, gan.latent_dim))
        return gan.g_apply(state_lib.sampling_params(state), state.g_batch_stats, z, y)

    seeds = jnp.asarray([int(s) for s in seeds], jnp.uint32)
    return np.asarray(jax.jit(jax.vmap(one))(states, seeds))
