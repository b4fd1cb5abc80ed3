"""Run as a script with 4 fake CPU devices: the sharded step vs one device.

Prints one JSON line with, for parameters, batch statistics and metrics after
3 train steps on the same global batches, the largest |four - one| - 1e-5 |one|
(the atol at which np.allclose(four, one, rtol=1e-5) holds).
"""

import json
import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"

import jax  # noqa: E402
import numpy as np  # noqa: E402

from gan_jax import state as state_lib, steps  # noqa: E402
from gan_jax.configs import base_config  # noqa: E402
from gan_jax.data import synthetic  # noqa: E402


def run(config, devices, data_shape, batches, sampler):
    mesh = steps.make_mesh(devices)
    gan = state_lib.make_gan(config, data_shape)
    state = jax.device_put(state_lib.init_state(gan, config.seed), steps.replicated(mesh))
    step = steps.parallelize(gan, mesh, config.batch_size, sampler)
    history = []
    for batch in batches:
        if batch is not None:
            batch = jax.device_put(batch, steps.batch_sharding(mesh))
        state, metrics = step(state, batch)
        history.append(jax.device_get(metrics))
    return jax.device_get(state), history


def max_excess(a, b, rtol=1e-5):
    """max over elements of |a - b| - rtol |b|: below an atol means allclose(rtol, atol)."""
    diffs = jax.tree.map(
        lambda x, y: float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))
                                  - rtol * np.abs(np.asarray(y, np.float64)))), a, b)
    return max(jax.tree.leaves(diffs), default=0.0)


def main(model: str):
    assert jax.device_count() == 4, jax.devices()
    c = base_config()
    c.batch_size = 16
    c.n_disc = 2
    # SGD, not Adam: Adam's update hides a gradient that is N times too large. A small
    # rate: at 0.05 a BatchNorm channel of near-zero variance amplifies float rounding
    # (1e-8 -> 1e-3 within 3 steps), in either run.
    c.optim.g = c.optim.d = dict(name="sgd", lr=0.01, momentum=0.0)
    if model == "dcgan":
        c.model.name, c.model.latent_dim, c.data.name = "dcgan", 16, "images"
        data_shape = (28, 28, 1)
        rng = np.random.default_rng(0)
        batches = [rng.uniform(-1, 1, (2, 16, *data_shape)).astype(np.float32)
                   for _ in range(3)]
        sampler = None
    else:
        c.model.name, c.model.latent_dim = "mlp", 2
        mixture = synthetic.make_mixture(c.data)
        data_shape = (2,)
        batches = [None] * 3
        sampler = lambda key: synthetic.sample(mixture, key)  # noqa: E731
    one, h1 = run(c, jax.devices()[:1], data_shape, batches, sampler)
    four, h4 = run(c, jax.devices(), data_shape, batches, sampler)
    print(json.dumps({
        "params": max_excess((four.g_params, four.d_params), (one.g_params, one.d_params)),
        "batch_stats": max_excess((four.g_batch_stats, four.d_batch_stats),
                                    (one.g_batch_stats, one.d_batch_stats)),
        "metrics": max_excess(h4, h1),
        "changed": max_excess(one.d_params, jax.device_get(
            state_lib.init_state(state_lib.make_gan(c, data_shape), c.seed).d_params)),
    }))


if __name__ == "__main__":
    main(sys.argv[1])
