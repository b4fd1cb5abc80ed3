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
Run time: the step costs about what the 32x32 DCGAN costs in BENCHMARKS.md, so the 3,000
steps take roughly 30 minutes on 2 free cores; the evaluation adds about 13 minutes
(Inception at about 10 images/s on this CPU, 7,572 images the first time, 3,786 after).
Expected result: not yet recorded here. What a working run shows: one category per grid
row, yellow faces in the "Smileys & Emotion" row, people with skin tones in "People &
Body", coloured blocks in "Flags"; intra-class FID above FID (each category has fewer
real images, and a G that mixes categories pays for it only there).
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
