"""Radford et al.'s DCGAN on the 3,786 Twemoji images: colour, 64x64, offline.

    python -m gan_jax.main --config experiments/configs/emoji_dcgan.py --workdir workdirs/emoji
    python -m gan_jax.main --config experiments/configs/emoji_dcgan.py:gpu \
        --workdir workdirs/emoji_gpu

The first run fetches the npm package emoji-datasource-twitter@16.0.0 (62 MB, checked by
its SHA-256) and builds the 64x64 PNGs, transparency composited on white, into a TFDS
dataset labelled by the 10 emoji categories (about 15 s, once; ``gan-jax data prepare
emoji`` does it alone). Model: gan_jax/models/dcgan64.py, the layout of the paper's
faces model, with f = 32 filters on a CPU (f = 128 in the paper and in ``:gpu``),
non-saturating loss, Adam(2e-4, b1 = 0.5), batch 64.
Run time: 0.85 steps/s on a 2-core AMD EPYC (AVX-512) with the cores free, so the 2,000
steps (34 epochs) take about 40 minutes; the recorded run took 67 minutes beside test
suites. ``:gpu`` (f = 128, 128 examples per device, bfloat16 layers) trains 20,000.
What the recorded run (seed 0) drew, in workdir/samples/: at step 500 orange and blue
blobs; at 1,250 coloured shapes on white, some round and yellow; at 2,000
(docs/images/emoji_dcgan_step2000.png) round yellow faces with dark eyes, small people
with hair and skin tones (the largest category), red and blue flag-like blocks, all on
white and still blurry, with checkerboard speckle. A longer run or f = 128 sharpens them;
a collapsed run repeats one shape across the grid. On the CPU, evaluation is off (FID
through the Inception network runs at about 10 images/s here: minutes per evaluation);
``:gpu`` evaluates FID every 2,000 steps on all 3,786 images against all 3,786 real ones
(weights: ``gan-jax features prepare inception``) and keeps the best checkpoint by FID.
Score a CPU run afterwards with ``gan-jax eval --workdir W --features inception``.
"""

import jax

from gan_jax.configs import base_config
from gan_jax.models import model_config


def get_config(arg: str | None = None):
    """``arg``: None for the CPU setup; "gpu" (or "tpu") for accelerators."""
    c = base_config()
    c.data.name = "emoji"
    c.data.resolution, c.data.channels = 64, 3
    c.data.shuffle_buffer = 4_000
    c.model = model_config("dcgan64", latent_dim=100, f=32)
    c.loss = "nonsaturating"
    c.batch_size = 64
    c.num_steps = 2000
    c.optim.g.lr = c.optim.d.lr = 2e-4
    c.log_every = 50
    c.sample_every = c.checkpoint_every = 250
    if arg in ("gpu", "tpu"):
        c.model.f = 128
        c.batch_size = 128 * jax.device_count()
        c.num_steps = 20_000
        c.compute_dtype = "bfloat16"
        c.sample_every = c.checkpoint_every = 2000
        c.eval_every, c.eval_samples, c.best_metric = 2000, 3786, "fid"
    elif arg is not None:
        raise ValueError(f"unknown config argument {arg!r}; allowed: gpu, tpu")
    return c
