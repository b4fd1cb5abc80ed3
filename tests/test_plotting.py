"""Pictures: each writes a PNG of the expected size that reads back."""

import jax
import matplotlib.image
import numpy as np
import pytest

from gan_jax import plotting
from gan_jax.data import synthetic


@pytest.mark.parametrize("channels", [1, 3])
def test_image_grid(tmp_path, channels):
    images = np.random.default_rng(0).uniform(-1.5, 1.5, (10, 28, 28, channels))
    path = str(tmp_path / "grid.png")
    plotting.save_image_grid(images, path)
    picture = matplotlib.image.imread(path)
    assert picture.shape[0] >= 3 * 28 and picture.shape[1] >= 4 * 28  # 4 columns, 3 rows


@pytest.mark.parametrize("mixture,d_fn", [
    (synthetic.ring(), None),
    (synthetic.gaussian_mixture_1d((2.0,), (0.5,)), lambda x: 1 / (1 + np.exp(-x[:, 0]))),
])
def test_toy_plot(tmp_path, mixture, d_fn):
    x = np.asarray(synthetic.sample_batch(mixture, jax.random.PRNGKey(0), 500))
    path = str(tmp_path / "toy.png")
    plotting.save_toy_plot(x, mixture, path, title="t", d_fn=d_fn)
    assert matplotlib.image.imread(path).shape[0] > 200


def test_toy_panels(tmp_path):
    mixture = synthetic.grid()
    samples = [np.random.default_rng(i).normal(size=(200, 2)) for i in range(3)]
    path = str(tmp_path / "panels.png")
    plotting.save_toy_panels(samples, [0, 10, 20], mixture, path)
    picture = matplotlib.image.imread(path)
    assert picture.shape[1] > 2 * picture.shape[0]
