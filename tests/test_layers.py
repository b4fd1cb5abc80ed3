"""The rewritten layers equal the plain Flax layers: same outputs and gradients.

SubPixelConvTranspose and PhaseConvTranspose are nn.ConvTranspose; PatchConv is nn.Conv;
UpsampleConv is nn.Conv of the nearest-neighbour 2x up-sampled input; ConvPool is nn.Conv
followed by 2 x 2 average pooling; WinogradConv is a 3 x 3 nn.Conv.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models.layers import (
    ConvPool,
    PatchConv,
    PhaseConvTranspose,
    SubPixelConvTranspose,
    UpsampleConv,
    WinogradConv,
    depth_to_space,
    phase_taps,
)


def _allclose(a, b, rtol=1e-5):
    """|a - b| <= rtol * max|b| elementwise (relative to the array's scale)."""
    a, b = np.asarray(a), np.asarray(b)
    np.testing.assert_array_less(np.abs(a - b), rtol * np.max(np.abs(b)) + 1e-12)


def _assert_same_function(plain, fast, x):
    """``fast`` with ``plain``'s parameters: same parameter shapes, outputs and gradients
    (w.r.t. parameters and input) as ``plain`` on ``x``; returns the output."""
    params = plain.init(jax.random.PRNGKey(1), x)
    # Non-zero bias too, so the bias path is compared.
    params = jax.tree.map(lambda p: p + 0.1 * jax.random.normal(jax.random.PRNGKey(2), p.shape),
                          params)
    assert jax.tree.map(jnp.shape, fast.init(jax.random.PRNGKey(1), x)) \
        == jax.tree.map(jnp.shape, params)
    y_plain, y_fast = plain.apply(params, x), fast.apply(params, x)
    assert y_fast.shape == y_plain.shape
    _allclose(y_fast, y_plain)

    def grads(module):
        return jax.grad(lambda p, x: jnp.sum(jnp.sin(module.apply(p, x))), argnums=(0, 1))(
            params, x)

    for g_fast, g_plain in zip(jax.tree.leaves(grads(fast)), jax.tree.leaves(grads(plain)),
                              strict=True):
        _allclose(g_fast, g_plain)
    return y_fast


@pytest.mark.parametrize("layer", [SubPixelConvTranspose, PhaseConvTranspose])
@pytest.mark.parametrize("k,s,c_in,c_out,side", [
    (4, 2, 128, 64, 7),   # DCGAN's 7 -> 14 layer
    (4, 2, 64, 1, 14),    # and its 14 -> 28 layer
    (4, 2, 64, 3, 16),    # the 32x32x3 model's last layer
    (3, 2, 5, 6, 5), (5, 2, 3, 4, 6), (4, 3, 3, 2, 5), (2, 2, 3, 3, 4),
])
def test_same_outputs_and_gradients_as_conv_transpose(k, s, c_in, c_out, side, layer):
    plain = nn.ConvTranspose(c_out, (k, k), strides=(s, s), padding="SAME")
    fast = layer(c_out, k, s)
    x = jax.random.normal(jax.random.PRNGKey(0), (3, side, side, c_in))
    y = _assert_same_function(plain, fast, x)
    assert y.shape == (3, s * side, s * side, c_out)


def test_phase_taps_of_the_dcgan_layer():
    # Stride 2, kernel 4, SAME: even outputs read taps 0, 2 at offsets -1, 0; odd ones
    # read taps 1, 3 at offsets 0, +1.
    taps, lo, hi = phase_taps(4, 2)
    np.testing.assert_array_equal(taps, [[0, -1], [2, 1], [-1, 3]])
    assert (lo, hi) == (-1, 1)


def test_depth_to_space_interleaves_phases():
    x = jnp.arange(2 * 2 * 4, dtype=jnp.float32).reshape(1, 2, 2, 4)
    y = depth_to_space(x, 2)
    assert y.shape == (1, 4, 4, 1)
    # Pixel (0, 0) of the input spreads its 4 channels over the 2x2 block at (0, 0).
    np.testing.assert_array_equal(np.asarray(y[0, :2, :2, 0]), [[0, 1], [2, 3]])


@pytest.mark.parametrize("k,s,c_in,c_out,shape", [
    (4, 2, 1, 64, (28, 28)),   # DCGAN 28x28x1's first D layer
    (4, 2, 3, 64, (32, 32)),   # and the 32x32x3 model's
    (4, 2, 5, 7, (15, 13)),    # odd sides: uneven SAME padding
    (3, 1, 2, 4, (6, 5)), (3, 2, 4, 3, (9, 9)), (5, 3, 2, 6, (11, 8)),
])
def test_patch_conv_same_outputs_and_gradients_as_conv(k, s, c_in, c_out, shape):
    plain = nn.Conv(c_out, (k, k), strides=(s, s), padding="SAME")
    fast = PatchConv(c_out, k, stride=s)
    x = jax.random.normal(jax.random.PRNGKey(0), (3, *shape, c_in))
    _assert_same_function(plain, fast, x)


class _UpThenConv(nn.Module):
    """The reference: nearest-neighbour 2x up-sampling by repetition, then nn.Conv."""

    features: int
    k: int

    @nn.compact
    def __call__(self, x):
        x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
        return nn.Conv(self.features, (self.k, self.k), padding="SAME", name="conv")(x)


class _Named(nn.Module):
    """``layer(features, k)`` under the reference's submodule name, so parameters match."""

    layer: type
    features: int
    k: int

    @nn.compact
    def __call__(self, x):
        return self.layer(self.features, self.k, name="conv")(x)


@pytest.mark.parametrize("k,c_in,c_out,shape", [
    (3, 8, 16, (4, 4)),     # the residual generators' blocks
    (3, 3, 5, (5, 7)),      # odd sides
    (1, 4, 6, (3, 3)), (5, 2, 3, (6, 5)),
])
def test_upsample_conv_same_outputs_and_gradients_as_upsample_then_conv(k, c_in, c_out, shape):
    x = jax.random.normal(jax.random.PRNGKey(0), (2, *shape, c_in))
    y = _assert_same_function(_UpThenConv(c_out, k), _Named(UpsampleConv, c_out, k), x)
    assert y.shape == (2, 2 * shape[0], 2 * shape[1], c_out)


class _ConvThenPool(nn.Module):
    features: int
    k: int

    @nn.compact
    def __call__(self, x):
        y = nn.Conv(self.features, (self.k, self.k), padding="SAME", name="conv")(x)
        return nn.avg_pool(y, (2, 2), (2, 2))


@pytest.mark.parametrize("k,c_in,c_out,shape", [
    (3, 8, 16, (8, 8)),     # the residual discriminators' down-sampling blocks
    (3, 3, 5, (6, 10)), (1, 4, 6, (4, 4)), (5, 2, 3, (6, 8)),
])
def test_conv_pool_same_outputs_and_gradients_as_conv_then_avg_pool(k, c_in, c_out, shape):
    x = jax.random.normal(jax.random.PRNGKey(0), (2, *shape, c_in))
    y = _assert_same_function(_ConvThenPool(c_out, k), _Named(ConvPool, c_out, k), x)
    assert y.shape == (2, shape[0] // 2, shape[1] // 2, c_out)


@pytest.mark.parametrize("c_in,c_out,shape", [(8, 16, (8, 8)), (3, 5, (5, 7)), (4, 2, (1, 2))])
def test_winograd_conv_same_outputs_and_gradients_as_conv3x3(c_in, c_out, shape):
    x = jax.random.normal(jax.random.PRNGKey(0), (2, *shape, c_in))
    _assert_same_function(nn.Conv(c_out, (3, 3), padding="SAME"), WinogradConv(c_out), x)
