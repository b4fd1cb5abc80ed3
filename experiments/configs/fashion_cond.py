"""Class-conditional DCGAN on Fashion-MNIST: conditional batch norm in G, a projection D.

    gan-jax data prepare fashion_mnist
    nice -n 5 python -m gan_jax.main --config experiments/configs/fashion_cond.py \
        --workdir workdirs/fashion_cond
    python -m gan_jax.main --config experiments/configs/fashion_cond.py:gpu \
        --workdir workdirs/fashion_cond_gpu

The first command builds the TFDS dataset ``fashion_mnist`` (offline from the Debian
package dataset-fashion-mnist, or by the usual TFDS download). The setup is that of
``mnist_cond.py`` (the DCGAN of Lucic et al. 2018 with ``conditioning="cbn+projection"``,
Miyato & Koyama 2018; ``--config.model.conditioning=acgan`` for AC-GAN), on the 10
clothing classes.
Run time: 1,500 steps at batch 64 took 6.5 minutes (10.7 CPU-minutes) on a 2-core AMD
EPYC (AVX2, AVX-512) with other jobs at idle priority, the three evaluations included;
minutes on one GPU with ``:gpu``.
Expected result (that run, seed 0): class accuracy (the Fashion-MNIST LeNet's agreement
with the requested class; chance 0.1) 0.56 / 0.77 / 0.83 at steps 500 / 1,000 / 1,500,
FD-LeNet 115 / 20.1 / 12.4, intra-class FD-LeNet 172 / 40.3 / 27.1. The grids in
workdir/samples/ have one class per row, top to bottom T-shirt/top, trouser, pullover,
dress, coat, sandal, shirt, sneaker, bag, ankle boot; the tops, pullovers, coats and shirts
look most alike (the classes the LeNet itself confuses most), sandals and sneakers are the
roughest.
"""

from gan_jax.configs import dcgan_image_config
from gan_jax.models import model_config


def get_config(arg: str | None = None):
    """``arg``: None for the CPU setup; "gpu" (or "tpu") for accelerators."""
    c = dcgan_image_config("fashion_mnist", arg)
    c.model = model_config("dcgan", latent_dim=64, conditioning="cbn+projection")
    c.num_steps = 1500
    c.eval_every = c.sample_every = c.checkpoint_every = 500
    c.log_every = 50
    return c
