"""SNGAN on CIFAR-10: the ResNet of Miyato et al. (2018, Appendix B) with their protocol.

    python -m gan_jax.main --config experiments/configs/cifar10_sngan.py \
        --workdir workdirs/cifar10_sngan
    python -m gan_jax.main --config experiments/configs/cifar10_sngan.py:gpu \
        --workdir workdirs/cifar10_sngan_gpu

TFDS ``cifar10`` (downloaded on first use, 50,000 32x32 training images). Model:
gan_jax/models/resnet.py at its published widths (G 256 channels from 4x4 through three
up-sampling blocks, 4,276,739 parameters; D 128 channels, optimised first block, spectral
norm everywhere, 1,053,825 parameters, the counts of Mimicry's ``sngan_32.py``). The
published protocol: hinge loss, n_disc = 5, batch 64, Adam(2e-4, b1 = 0, b2 = 0.9) for both
players, both learning rates decaying linearly to 0 over the run, 50,000 G updates.
``:gpu``/``:tpu`` keep the protocol and evaluate FID (Inception pool3 features, 10,000
samples against the training set's statistics) and the Inception score every 5,000 steps,
keeping the best checkpoint by FID.

Run time: not a CPU run. One G update with its 5 D updates is about 2.9 TFLOP (model
FLOPs at batch 64: G's forward 3.4 GFLOP per example, D's 0.5); at the 50 to 60 GFLOP/s
that the DCGAN steps of ``BENCHMARKS.md`` reach on a 2-core AMD EPYC (AVX2, AVX-512),
about a minute per update and a month for the 50,000. On a current GPU the protocol takes
hours.
Expected result: Miyato et al. report for this setup an Inception score of 8.22 and an FID
of 21.7 (ResNet, hinge loss, spectral norm); gan_jax's own FIDs are on
``gan-jax eval``'s protocol, so compare the trend rather than the third digit. Not yet
reproduced here: no accelerator run has been recorded. ``tests/test_resnet.py`` trains
this config for 2 steps (narrow, on TFDS's mock data); ``--config.num_steps=20
--config.model.g_ch=64 --config.model.d_ch=64`` is a short CPU check on the real data.
"""

from gan_jax.configs import base_config
from gan_jax.models import model_config


def get_config(arg: str | None = None):
    """``arg``: None for the protocol as is; "gpu" (or "tpu") adds periodic FID."""
    c = base_config()
    c.data.name = "cifar10"
    c.data.shuffle_buffer = 50_000
    c.model = model_config("resnet", latent_dim=128, conditioning="none")
    c.loss = "hinge"
    c.n_disc = 5
    c.batch_size = 64
    c.num_steps = 50_000
    for player in (c.optim.g, c.optim.d):
        player.lr, player.b1, player.b2, player.schedule = 2e-4, 0.0, 0.9, "linear"
    c.log_every = 100
    c.sample_every = c.checkpoint_every = 1000
    if arg in ("gpu", "tpu"):
        c.sample_every = c.checkpoint_every = 5000
        c.eval_every, c.eval_samples, c.best_metric = 5000, 10_000, "fid"
    elif arg is not None:
        raise ValueError(f"unknown config argument {arg!r}; allowed: gpu, tpu")
    return c
