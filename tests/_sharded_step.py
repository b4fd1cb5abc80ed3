"""Run as a script with 4 fake CPU devices: the sharded step vs one device.

Runs 3 train steps on one device, then each of those steps again on 4 devices
from the same starting state and on the same global batch, and prints one JSON
line with, for parameters, batch statistics and metrics, the largest
|four - one| - 1e-5 |one| (the atol at which np.allclose(four, one, rtol=1e-5)
holds), over the 3 steps.

Each 4-device step starts from the one-device state rather than from its own
previous result: the DCGAN's discriminator is piecewise linear (leaky ReLU after
BatchNorm), so a float-rounding difference of 1e-8 in a parameter can move a
pre-activation across a kink and change the next gradient by 1e-4; over several
chained steps that compounds to 1e-3 on some CPUs, whatever the parallel code
does. One step from the same state compares the parallel step itself, with
``n_disc = 1``: a second D step inside a train step is already such a chained
update (the loop over D steps is the same code on any number of devices).
"""

import json
import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"

import jax  # noqa: E402
import numpy as np  # noqa: E402

from gan_jax import data, state as state_lib, steps  # noqa: E402
from gan_jax.configs import base_config  # noqa: E402
from gan_jax.models import model_config  # noqa: E402


def stepper(config, devices, spec, sampler):
    """(state, batch) -> (state, metrics) on host numpy, run on ``devices``."""
    mesh = steps.make_mesh(devices)
    gan = state_lib.make_gan(config, spec)
    step = steps.parallelize(gan, mesh, config.batch_size, sampler)

    def run(state, batch):
        state = jax.device_put(state, steps.replicated(mesh))
        if batch is not None:
            batch = jax.device_put(batch, steps.batch_sharding(mesh))
        return jax.device_get(step(state, batch))

    return gan, run


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
    c.n_disc = 1
    # SGD, not Adam: Adam's update hides a gradient that is N times too large.
    c.optim.g = c.optim.d = dict(name="sgd", lr=0.01, momentum=0.0)
    if model in ("dcgan_diffaugment", "resnet_cond_diffaugment"):
        # DiffAugment draws each example's transformation from its global index.
        c.diffaugment = "color,translation,cutout"
    if model == "resnet_cond_diffaugment":
        # The SNGAN ResNet, narrow, with conditional batch norm (statistics over all
        # devices) and a projection D whose spectral norm updates in the step.
        c.model, c.data.name = model_config("resnet", latent_dim=16, g_ch=16, d_ch=16,
                                            conditioning="cbn+projection"), "images"
        spec = data.Spec((32, 32, 3), (-1.0, 1.0), 10)
        rng = np.random.default_rng(0)
        batches = [{"image": rng.uniform(-1, 1, (1, 16, 32, 32, 3)).astype(np.float32),
                    "label": rng.integers(0, 10, (1, 16)).astype(np.int32)}
                   for _ in range(3)]
        sampler = None
    elif model.startswith("dcgan"):
        # A labelled image batch: the labels are sharded with the images; generated labels
        # are drawn per example index (the DCGAN itself ignores them).
        c.model, c.data.name = model_config("dcgan", latent_dim=16), "images"
        spec = data.Spec((28, 28, 1), (-1.0, 1.0), 10)
        rng = np.random.default_rng(0)
        batches = [{"image": rng.uniform(-1, 1, (1, 16, 28, 28, 1)).astype(np.float32),
                    "label": rng.integers(0, 10, (1, 16)).astype(np.int32)}
                   for _ in range(3)]
        sampler = None
    else:
        # ring8 drawn in the step, its components as labels; "mlp_concat" conditions on them,
        # "mlp_acgan" adds AC-GAN's class terms (D's classifier on real and generated labels).
        conditioning = {"mlp_concat": "concat", "mlp_acgan": "acgan"}.get(model, "none")
        c.model = model_config("mlp", latent_dim=2, conditioning=conditioning)
        if model == "mlp_pack":
            # Packing: each device packs its own share (4 examples, 2 groups of 2); the
            # gradient penalty draws its mixing weights per packed example.
            c.model.pack, c.regularizers = 2, {"gp": 1.0}
        source = data.get(c.data)
        spec = source.spec
        batches = [None] * 3
        sampler = source.sample
    gan, one = stepper(c, jax.devices()[:1], spec, sampler)
    _, four = stepper(c, jax.devices(), spec, sampler)
    start = jax.device_get(state_lib.init_state(gan, c.seed))
    state, worst = start, {"params": -1.0, "batch_stats": -1.0, "metrics": -1.0}
    for batch in batches:
        s1, m1 = one(state, batch)
        s4, m4 = four(state, batch)
        for name, a, b in [
                ("params", (s4.g_params, s4.d_params), (s1.g_params, s1.d_params)),
                ("batch_stats", (s4.g_batch_stats, s4.d_batch_stats),
                 (s1.g_batch_stats, s1.d_batch_stats)),
                ("metrics", m4, m1)]:
            worst[name] = max(worst[name], max_excess(a, b))
        assert int(s4.step) == int(s1.step) == int(state.step) + 1
        state = s1
    worst["changed"] = max_excess(state.d_params, start.d_params)
    print(json.dumps(worst))


if __name__ == "__main__":
    main(sys.argv[1])
