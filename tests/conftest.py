"""Tiny configs shared by the tests: a ring-8 toy run and a small image run.

Fixtures return factories, so a test makes as many configs as it needs:
``toy_config(steps=20, fields={"loss": "hinge", "optim.d.lr": 1e-3})`` and
``image_config(steps=4, fields={...})``, the fields given by dotted names.
"""

# torchvision (the Inception tests run pytorch-fid, which needs it) crashes the process
# when it is imported after TensorFlow; imported first, both work.
import torchvision  # noqa: F401  isort: skip

import ml_collections
import pytest

from gan_jax.configs import base_config
from gan_jax.models import model_config


def set_fields(config, fields: dict) -> ml_collections.ConfigDict:
    """Sets dotted fields (``"optim.d.lr"``) of ``config``; returns it."""
    for field, value in fields.items():
        *parents, leaf = field.split(".")
        node = config
        for part in parents:
            node = node[part]
        with node.ignore_type():
            node[leaf] = value
    return config


def make_toy_config(steps: int = 20, fields: dict | None = None) -> ml_collections.ConfigDict:
    """ring8 with a small MLP (16 units, 2 layers), batch 32, logs and checkpoints every 10
    steps, 500 toy samples per picture, no progress bar."""
    c = base_config()
    c.model = model_config("mlp", latent_dim=2, hidden=16, depth=2)
    c.batch_size = 32
    c.num_steps = steps
    c.log_every = c.sample_every = c.checkpoint_every = 10
    c.num_toy_samples = 500
    c.progress_bar = False
    return set_fields(c, fields or {})


def make_image_config(data_dir: str, steps: int = 4, fields: dict | None = None
                      ) -> ml_collections.ConfigDict:
    """The DCGAN (latent 16) on scikit-learn's 8x8 digits (built into ``data_dir`` on first
    use), batch 16, every schedule at 2 steps, 16 images per grid, no progress bar."""
    c = base_config()
    c.data.name, c.data.data_dir, c.data.shuffle_buffer = "digits", data_dir, 2000
    c.model = model_config("dcgan", latent_dim=16)
    c.batch_size = 16
    c.num_steps = steps
    c.log_every = c.sample_every = c.checkpoint_every = 2
    c.num_samples = 16
    c.progress_bar = False
    return set_fields(c, fields or {})


@pytest.fixture
def toy_config():
    """Factory: ``toy_config(steps=20, fields={...})``, see :func:`make_toy_config`."""
    return make_toy_config


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory):
    """A TFDS data dir shared by the session's image tests (digits are built once into it)."""
    return str(tmp_path_factory.mktemp("tfds"))


@pytest.fixture
def image_config(digits_dir):
    """Factory: ``image_config(steps=4, fields={...})``, see :func:`make_image_config`."""
    return lambda steps=4, fields=None: make_image_config(digits_dir, steps, fields)
