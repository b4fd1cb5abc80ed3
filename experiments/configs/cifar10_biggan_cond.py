"""Class-conditional BigGAN-style GAN on CIFAR-10 (Brock et al. 2019), 32x32.

    python -m gan_jax.main --config experiments/configs/cifar10_biggan_cond.py \
        --workdir workdirs/cifar10_biggan
    python -m gan_jax.main --config experiments/configs/cifar10_biggan_cond.py:gpu \
        --workdir workdirs/cifar10_biggan_gpu

TFDS ``cifar10`` (downloaded on first use), its 10 classes as labels. Model:
gan_jax/models/biggan.py at ch = 64 with ``conditioning="cbn+projection"``: a 128-d shared
class embedding, the 120-d latent split into 4 chunks of 30 (one for the 4x4 map, one per
block, each joined to the embedding and mapped to the block's batch-norm gains and biases,
gains centred at 1), self-attention on G's 32x32 maps, spectral norm and orthogonal init in
both players, a projection D; G 4,440,836 and D 4,207,361 parameters, the counts of
BigGAN-PyTorch's ``BigGAN.py`` in the same configuration. Training as BigGAN-PyTorch's
CIFAR-10 script: hinge loss, n_disc = 4, Adam(2e-4, b1 = 0, b2 = 0.999) for both players,
an exponential moving average of G's weights (decay 0.9999) for sampling and evaluation;
batch 64, 50,000 G updates, generated labels uniform over the classes. The sample grids
show one row per class (airplane, automobile, ..., truck from top to bottom).
``:gpu``/``:tpu`` add FID and the Inception score every 5,000 steps (10,000 samples) and
keep the best checkpoint by FID.

Run time: like ``cifar10_sngan.py``, not a CPU run: a G update with its 4 D updates costs
about as much as SNGAN's with 5 (the same 256-channel blocks, a wider D, attention at
32x32), weeks on a 2-core CPU, hours on a current GPU.
Expected result: Brock et al. report an FID of 14.73 and an Inception score of 9.22 for
BigGAN on CIFAR-10 (their appendix table); a projection cGAN without the BigGAN changes
(Miyato & Koyama 2018) reaches 17.5. Not yet reproduced here: no accelerator run has been
recorded. ``tests/test_biggan.py`` trains this config for 2 steps (narrow, on TFDS's mock
data); ``--config.num_steps=10 --config.model.g_ch=16 --config.model.d_ch=16`` is a short
CPU check on the real data.
"""

from gan_jax.configs import base_config
from gan_jax.models import model_config


def get_config(arg: str | None = None):
    """``arg``: None for the protocol as is; "gpu" (or "tpu") adds periodic FID."""
    c = base_config()
    c.data.name = "cifar10"
    c.data.shuffle_buffer = 50_000
    c.model = model_config("biggan", latent_dim=120, g_ch=64, d_ch=64, shared_dim=128,
                           attention=32, conditioning="cbn+projection")
    c.loss = "hinge"
    c.n_disc = 4
    c.batch_size = 64
    c.num_steps = 50_000
    c.ema_decay = 0.9999
    for player in (c.optim.g, c.optim.d):
        player.lr, player.b1, player.b2 = 2e-4, 0.0, 0.999
    c.log_every = 100
    c.sample_every = c.checkpoint_every = 1000
    if arg in ("gpu", "tpu"):
        c.sample_every = c.checkpoint_every = 5000
        c.eval_every, c.eval_samples, c.best_metric = 5000, 10_000, "fid"
    elif arg is not None:
        raise ValueError(f"unknown config argument {arg!r}; allowed: gpu, tpu")
    return c
