"""DCGAN (the InfoGAN-style model of Lucic et al. 2018) on MNIST through TFDS.

    python -m gan_jax.main --config experiments/configs/mnist_dcgan.py \
        --workdir workdirs/mnist_dcgan --config.data.data_dir=~/tensorflow_datasets

Needs the TFDS dataset ``mnist`` prepared in config.data.data_dir
(``tfds build mnist`` where the network allows).
Run time: about 3.5 steps/s at batch 64 on a 2-core CPU, so 5,000 steps take
about 25 minutes; minutes on one GPU.
A good result: the grids in workdir/samples/ show recognisable digits of
several classes after a few thousand steps.
"""

from gan_jax.configs import base_config


def get_config():
    c = base_config()
    c.data.name = "mnist"
    c.data.split = "train"
    c.model.name = "dcgan"
    c.model.latent_dim = 64
    c.loss = "nonsaturating"
    c.batch_size = 64
    c.num_steps = 5000
    c.optim.g.lr = 2e-4
    c.optim.d.lr = 2e-4
    c.log_every = 100
    c.sample_every = 500
    c.checkpoint_every = 500
    return c
