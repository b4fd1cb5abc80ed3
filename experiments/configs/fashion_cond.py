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
Run time: 1,500 steps at batch 64, at the speed of ``mnist_cond.py`` (the same networks
and image size): about 12 minutes with two free CPU cores (2.2 steps/s, benchmarks/speed.py),
plus three evaluations of about 30 s each; minutes on one GPU with ``:gpu``.
Expected result: not yet recorded for this dataset. What a working run shows: the grids
in workdir/samples/ have one class per row, top to bottom T-shirt/top, trouser, pullover,
dress, coat, sandal, shirt, sneaker, bag, ankle boot; class accuracy (the Fashion-MNIST
LeNet's agreement with the requested class; chance 0.1) rises well above chance by step
1,000, and intra-class FD-LeNet falls with FD-LeNet. Tops, pullovers, coats and shirts
are the classes the LeNet itself confuses most, so they cap the accuracy first.
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
