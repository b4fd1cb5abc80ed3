"""Pictures: each writes a PNG of the expected size that reads back."""

import gc
import sys

import jax
import matplotlib.image
import numpy as np
import pytest

from gan_jax import plotting
from gan_jax.data import synthetic


@pytest.mark.parametrize("channels", [1, 3])
def test_image_grid(tmp_path, channels):
    images = np.random.default_rng(0).uniform(-1.5, 1.5, (10, 28, 28, channels))
    images[0] = -1.0  # the first cell black, its border white
    path = str(tmp_path / "grid.png")
    plotting.save_image_grid(images, path)
    picture = matplotlib.image.imread(path)
    assert picture.shape[0] >= 3 * 28 and picture.shape[1] >= 4 * 28  # 4 columns, 3 rows
    # Exactly the cells (28 px + 2 px border) times an integer scale, no figure margins.
    scale = picture.shape[0] // (3 * 30 + 2)
    assert scale >= 1 and picture.shape[:2] == ((3 * 30 + 2) * scale, (4 * 30 + 2) * scale)
    np.testing.assert_allclose(picture[5 * scale, 5 * scale, :3], 0.0)
    np.testing.assert_allclose(picture[0, 0, :3], 1.0)
    if channels == 1:  # gray: the three colour channels agree
        np.testing.assert_array_equal(picture[..., 0], picture[..., 2])


def test_image_grid_columns_and_bad_shape(tmp_path):
    path = str(tmp_path / "row.png")
    plotting.save_image_grid(np.zeros((3, 8, 8)), path, ncols=3)
    picture = matplotlib.image.imread(path)
    assert picture.shape[1] > 2.5 * picture.shape[0]
    with pytest.raises(ValueError, match="not \\[N, H, W, 1 or 3\\]"):
        plotting.save_image_grid(np.zeros((3, 8, 8, 2)), path)


@pytest.mark.parametrize("mixture,d_fn", [
    (synthetic.ring(), None),
    (synthetic.grid(), None),
    (synthetic.gaussian_mixture_1d((2.0,), (0.5,)), None),
    (synthetic.gaussian_mixture_1d((-2.0, 2.0), (0.3, 0.5)), lambda x: 1 / (1 + np.exp(-x[:, 0]))),
])
def test_toy_plot(tmp_path, mixture, d_fn):
    x = np.asarray(synthetic.sample_batch(mixture, jax.random.PRNGKey(0), 500))
    path = str(tmp_path / "toy.png")
    plotting.save_toy_plot(x, mixture, path, title="t", d_fn=d_fn)
    picture = matplotlib.image.imread(path)
    assert picture.shape[0] >= 300 and picture.shape[1] >= 450
    assert picture[..., :3].std() > 0.05  # something was drawn


def test_toy_plot_does_not_touch_pyplot(tmp_path):
    """No pyplot figure is left open (or created), and the backend is not switched."""
    before = len(gc.get_objects())
    for i in range(3):
        plotting.save_toy_plot(np.zeros((10, 2)), synthetic.ring(), str(tmp_path / f"{i}.png"))
    gc.collect()
    assert len(gc.get_objects()) < before + 5000
    if "matplotlib.pyplot" in sys.modules:
        assert not sys.modules["matplotlib.pyplot"].get_fignums()


@pytest.mark.parametrize("mixture", [synthetic.grid(),
                                     synthetic.gaussian_mixture_1d((0.0,), (1.0,))])
def test_toy_panels(tmp_path, mixture):
    d = mixture.means.shape[1]
    samples = [np.random.default_rng(i).normal(size=(200, d)) for i in range(3)]
    path = str(tmp_path / "panels.png")
    plotting.save_toy_panels(samples, [0, 10, 20], mixture, path)
    picture = matplotlib.image.imread(path)
    assert picture.shape[1] > 2 * picture.shape[0] and picture.shape[0] >= 250
    with pytest.raises(ValueError, match="one per step"):
        plotting.save_toy_panels(samples, [0, 10], mixture, path)
