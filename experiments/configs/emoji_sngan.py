"""The SNGAN ResNet on the 3,786 Twemoji images: colour, 32x32, offline.

    python -m gan_jax.main --config experiments/configs/emoji_sngan.py \
        --workdir workdirs/emoji_sngan
    python -m gan_jax.main --config experiments/configs/emoji_sngan.py:gpu \
        --workdir workdirs/emoji_sngan_gpu

Data as ``emoji_dcgan.py`` (npm emoji-datasource-twitter, built once into a TFDS dataset,
transparency on white), resized to 32x32. Model: gan_jax/models/resnet.py, the CIFAR-10
layout of Miyato et al. (2018) at a quarter of G's width and half of D's on a CPU (64
channels in both: 368,771 and 264,769 parameters; ``:gpu`` the published 256/128),
unconditional. SNGAN's protocol with fewer D updates for the CPU: hinge loss, n_disc = 2
(5 in ``:gpu``), batch 64, Adam(2e-4, b1 = 0, b2 = 0.9), learning rates decaying linearly
to 0.
Evaluation: FID on Inception features (``gan-jax features prepare inception`` once) at
the last step, 3,786 samples against all 3,786 real images; ``:gpu`` every 2,000 steps,
keeping the best checkpoint by FID.

Run time: 2 h 16 min end to end on a 2-core AMD EPYC (AVX2, AVX-512) shared with other
jobs (a test suite, benchmarks, another run's evaluation): 2 h 4 min for the 3,000 updates
and 10.8 min for the final FID (the real images' Inception features were cached by an
earlier run), 1 h 46 min of CPU time in all. With the cores free a step takes about 1.1 s
(timed over a separate 60-step run), so about 55 minutes of training.
Expected result (that run, seed 0, step 3,000): FID 135.9 on Inception features, KID 0.092,
precision 0.10, recall 0.04 (density 0.03, coverage 0.04); for comparison the conditional
DCGAN of ``emoji_cond.py`` reaches FID 202.5 on the same data and budget. The grid
(docs/images/emoji_sngan_step3000.png, looked at) shows yellow and skin-toned shapes on
white, a few faces with eyes, red and brown objects, flag-like blocks: emoji colours and
layouts, no clean emoji yet. Losses stay finite from the first steps
(``tests/test_resnet.py`` trains this config 2 steps on a small fake emoji package).
"""

from gan_jax.configs import base_config
from gan_jax.models import model_config


def get_config(arg: str | None = None):
    """``arg``: None for the CPU setup; "gpu" (or "tpu") for accelerators."""
    c = base_config()
    c.data.name = "emoji"
    c.data.resolution, c.data.channels = 32, 3
    c.data.shuffle_buffer = 4_000
    c.model = model_config("resnet", latent_dim=128, g_ch=64, d_ch=64)
    c.loss = "hinge"
    c.n_disc = 2
    c.batch_size = 64
    c.num_steps = 3000
    for player in (c.optim.g, c.optim.d):
        player.lr, player.b1, player.b2, player.schedule = 2e-4, 0.0, 0.9, "linear"
    c.log_every = 50
    c.sample_every = c.checkpoint_every = 250
    c.eval_every, c.eval_samples, c.eval_features = 3000, 3786, "inception"
    if arg in ("gpu", "tpu"):
        c.model.g_ch, c.model.d_ch = 256, 128
        c.n_disc = 5
        c.num_steps = 40_000
        c.sample_every = c.checkpoint_every = 2000
        c.eval_every, c.best_metric = 2000, "fid"
    elif arg is not None:
        raise ValueError(f"unknown config argument {arg!r}; allowed: gpu, tpu")
    return c
