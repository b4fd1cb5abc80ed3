"""The default experiment: a GAN learns the ring of 8 Gaussians.

    python -m gan_jax.main --config experiments/configs/default.py --workdir workdirs/default

Run time: about a minute on a 2-core CPU (3,000 steps at batch 256).
A good result: workdir/samples/step_0003000.png shows the generator's samples
sitting on the eight modes of the ring (the faint blobs of the data density),
and metrics.jsonl reports ``modes_captured`` close to 8.
"""

from gan_jax.configs import base_config


def get_config():
    c = base_config()
    c.data.name = "ring8"
    c.data.radius = 1.0
    c.data.std = 0.01
    c.model.name = "mlp"
    c.model.latent_dim = 2
    c.model.hidden = 128
    c.model.depth = 3
    c.loss = "nonsaturating"
    c.batch_size = 256
    c.num_steps = 3000
    c.optim.g.lr = c.optim.d.lr = 1e-3
    c.log_every = 100
    c.sample_every = 500
    c.checkpoint_every = 1000
    return c
