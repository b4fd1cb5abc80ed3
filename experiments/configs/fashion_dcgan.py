"""DCGAN (the InfoGAN-style model of Lucic et al. 2018) on Fashion-MNIST, through TFDS.

    gan-jax data prepare fashion_mnist
    python -m gan_jax.main --config experiments/configs/fashion_dcgan.py --workdir workdirs/fashion
    python -m gan_jax.main --config experiments/configs/fashion_dcgan.py:gpu \
        --workdir workdirs/fashion_gpu

The first command builds the TFDS dataset ``fashion_mnist`` (offline from the
Debian package dataset-fashion-mnist, or by the usual TFDS download).
Run time: about 5 steps/s at batch 64 on a 2-core CPU, so the 10,000 steps take
about 35 minutes; minutes on one GPU with the
``:gpu`` variant (64 examples per device, bfloat16 layers).
A good result: the grids in workdir/samples/ show shirts, trousers, shoes and
bags with clear outlines by step 5,000.
"""

import jax

from gan_jax.configs import base_config

PER_DEVICE_BATCH = 64


def get_config(arg: str | None = None):
    """``arg``: None for the CPU setup; "gpu" (or "tpu") for accelerators."""
    c = base_config()
    c.data.name = "fashion_mnist"
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
