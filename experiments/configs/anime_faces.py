"""The lecture's example: a DCGAN that draws anime faces from a folder of them.

    python -m gan_jax.main --config experiments/configs/anime_faces.py \
        --workdir workdirs/faces --config.data.path=/path/to/faces
    python -m gan_jax.main --config experiments/configs/anime_faces.py:cpu \
        --workdir workdirs/faces_cpu --config.data.path=/path/to/faces

The lecture notes this project grew from (Hung-yi Lee's Machine Learning course, spring
2021) train a GAN on anime faces; the course's homework 6 gives a folder of 71,314
Crypko faces (96x96 JPEGs). Bring any folder of face images: the first run builds it
once into a TFDS dataset, centre-cropped and resized to 64x64 (class subfolders, if any,
become labels; an unchanged folder is not rebuilt).
Settings of the homework's sample code where it states them: Radford et al.'s DCGAN
with 64 filters (gan_jax/models/dcgan64.py, f = 64), latent 100, batch 64, Adam(1e-4,
betas 0.5 and 0.999) for both networks, the cross-entropy loss with the non-saturating
G loss, images scaled to [-1, 1]. The homework trains 1 epoch for its simple baseline
and 50 for its medium one; this config trains 11,150 steps (10 epochs of 71,314 images).
Run time: about 10 s a step on a 2-core CPU (31 hours), so use a GPU; ``:cpu`` uses 32
filters and 2,000 steps (about 50 minutes) for a first look.
A good result: by 2 epochs the grid in workdir/samples/ shows face-like blobs with hair
and two eyes; by 10 epochs most samples are recognisable faces with varied hair colours.
Signs of trouble: one face repeated across the grid (mode collapse), or D's loss near 0
with G's loss growing (D wins; lower D's learning rate).
"""

from gan_jax.configs import base_config
from gan_jax.models import model_config


def get_config(arg: str | None = None):
    """``arg``: None for the homework's settings; "cpu" for a short, narrower run."""
    c = base_config()
    c.data.name = "folder"
    c.data.resolution, c.data.channels = 64, 3
    c.data.shuffle_buffer = 20_000
    c.model = model_config("dcgan64", latent_dim=100, f=64)
    c.loss = "nonsaturating"
    c.batch_size = 64
    c.num_steps = 11_150
    c.optim.g.lr = c.optim.d.lr = 1e-4
    c.optim.g.b1 = c.optim.d.b1 = 0.5
    c.log_every = 50
    c.sample_every = c.checkpoint_every = 500
    if arg == "cpu":
        c.model.f = 32
        c.num_steps = 2000
        c.sample_every = c.checkpoint_every = 250
    elif arg is not None:
        raise ValueError(f"unknown config argument {arg!r}; allowed: cpu")
    return c
