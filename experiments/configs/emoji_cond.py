"""Class-conditional DCGAN on the Twemoji images, conditioned on the emoji category.

    python -m gan_jax.main --config experiments/configs/emoji_cond.py \
        --workdir workdirs/emoji_cond
    python -m gan_jax.main --config experiments/configs/emoji_cond.py:gpu \
        --workdir workdirs/emoji_cond_gpu

Data as ``emoji_dcgan.py`` (npm emoji-datasource-twitter@16.0.0, built once into a TFDS
dataset labelled by its 10 categories, transparency on white), colour, resized to 32x32.
Model: the DCGAN of Lucic et al. (2018) for 32x32x3 (gan_jax/models/dcgan.py) with
conditional batch norm in G and a projection D (``conditioning="cbn+projection"``;
``--config.model.conditioning=acgan`` for AC-GAN). Non-saturating loss, Adam(2e-4),
batch 64, 3,000 steps; generated labels follow the categories' frequencies in the data
(``generated_labels="data"``: "People & Body" holds 2,261 of the 3,786 images,
"Component" 5), while the pictures still draw one row per category, in the order of the
dataset's label names (alphabetical: Activities, Animals & Nature, Component, Flags, Food
& Drink, Objects, People & Body, Smileys & Emotion, Symbols, Travel & Places).
Evaluation, once at the end: FID and intra-class FID (the FID of each category,
averaged over the 10) of 3,786 samples against all 3,786 real images on the Inception
features (``gan-jax features prepare inception`` once). Class accuracy needs a classifier
of the emoji categories; Inception's logits are ImageNet classes, so the evaluation says
it is unavailable and intra-class FID scores the conditioning.
Run time: 28.9 minutes (48.8 CPU-minutes) on a 2-core AMD EPYC (AVX2, AVX-512) with
other jobs at idle priority: 15.5 minutes for the 3,000 steps (about 4 steps/s), the rest
the Inception features of the 3,786 real images (once; cached for later runs) and of the
3,786 samples (6.8 minutes at the end).
Expected result (that run, seed 0, step 3,000): FID 202.5 and intra-class FID 280.2 on
Inception features, KID 0.143, precision 0.04 and recall 0.03: the samples are still far from
the real images (blurred shapes) after 3,000 steps. The conditioning shows
in the grid (docs/images/emoji_cond_grid.png, looked at): flags as striped rectangles in
the "Flags" row, yellow round faces in "Smileys & Emotion", faces with hair and skin tones
in "People & Body", blue keycap squares in "Symbols"; the other rows are coloured blobs.
Intra-class FID is above FID, as expected (each category has fewer real images).
"""

import jax

from gan_jax.configs import base_config
from gan_jax.models import model_config


def get_config(arg: str | None = None):
    """``arg``: None for the CPU setup; "gpu" (or "tpu") for accelerators."""
    c = base_config()
    c.data.name = "emoji"
    c.data.resolution, c.data.channels = 32, 3
    c.data.shuffle_buffer = 4_000
    c.model = model_config("dcgan", latent_dim=64, conditioning="cbn+projection")
    c.generated_labels = "data"
    c.loss = "nonsaturating"
    c.batch_size = 64
    c.num_steps = 3000
    c.optim.g.lr = c.optim.d.lr = 2e-4
    c.log_every = 50
    c.sample_every = c.checkpoint_every = 500
    c.eval_features = "inception"
    c.eval_every, c.eval_samples, c.best_metric = 3000, 3786, "fid"
    if arg in ("gpu", "tpu"):
        c.batch_size = 64 * jax.device_count()
        c.num_steps = 20_000
        c.compute_dtype = "bfloat16"
        c.sample_every = c.checkpoint_every = 2000
        c.eval_every = 2000
    elif arg is not None:
        raise ValueError(f"unknown config argument {arg!r}; allowed: gpu, tpu")
    return c
