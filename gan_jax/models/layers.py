"""Layers shared by the models.

:class:`SubPixelConvTranspose` computes exactly what ``flax.linen.ConvTranspose``
computes (same parameters, same outputs, same gradients) but as one stride-1
convolution producing ``stride**2`` times the channels followed by a
depth-to-space shuffle (the sub-pixel layout of Shi et al., CVPR 2016). On
XLA:CPU the backward pass of a strided transposed convolution is several times
slower than that of a stride-1 convolution; the rewrite avoids it. The kernel
is stored in ConvTranspose's layout ``[k, k, C_in, C_out]`` and rearranged on
every call, so checkpoints and parameter counts do not change.

:class:`UpsampleConv` is the residual generators' nearest-neighbour up-sampling followed by
a 3 x 3 convolution, computed at the low resolution as four 2 x 2 convolutions (16 taps per
input pixel instead of 36), with ``nn.Conv``'s parameters; :class:`ConvPool` is the
residual discriminators' convolution followed by 2 x 2 average pooling, as one stride-2
convolution (4 taps per input pixel instead of 9). :class:`WinogradConv` is a 3 x 3 ``nn.Conv`` by
Winograd's F(2x2, 3x3). :class:`PatchConv` is ``nn.Conv`` as one matrix product of im2col
patches.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax


def _same_padding(k: int, s: int) -> int:
    """Leading padding of the dilated input in lax.conv_transpose(..., "SAME")."""
    return k - 1 if s > k - 1 else int(np.ceil((k + s - 2) / 2))


@functools.cache
def phase_taps(k: int, s: int) -> tuple[np.ndarray, int, int]:
    """How output phase a of a stride-s transposed convolution reads the kernel.

    Output ``y[s*i + a] = sum_t x[i + (a + t - p) / s] * w[t]`` over taps t with
    ``(a + t - p) % s == 0`` (p = leading padding). Returns ``taps[u, a]``, the
    kernel tap of offset ``u + lo`` in phase a (-1 where none), and the offsets'
    range (lo, hi).
    """
    p = _same_padding(k, s)
    offsets = {(a, t): (a + t - p) // s for a in range(s) for t in range(k)
               if (a + t - p) % s == 0}
    lo, hi = min(offsets.values()), max(offsets.values())
    taps = -np.ones((hi - lo + 1, s), np.int32)
    for (a, t), d in offsets.items():
        taps[d - lo, a] = t
    return taps, lo, hi


def subpixel_kernel(kernel: jax.Array, stride: int) -> tuple[jax.Array, int, int]:
    """Rearranges a [k, k, C_in, C_out] transposed-conv kernel for the sub-pixel form.

    Returns the stride-1 kernel [U, U, C_in, s*s*C_out] (output channels ordered
    (phase_row, phase_col, c)) and the convolution's padding (lo, hi).
    """
    k = kernel.shape[0]
    taps, lo, hi = phase_taps(k, stride)
    u = taps.shape[0]
    # index [U, s] -> kernel rows; -1 gathers a zero row appended at the end.
    padded = jnp.concatenate([kernel, jnp.zeros((1, *kernel.shape[1:]), kernel.dtype)], 0)
    padded = jnp.concatenate([padded, jnp.zeros((k + 1, 1, *kernel.shape[2:]), kernel.dtype)], 1)
    rows = np.where(taps < 0, k, taps)                                   # [U, s]
    gathered = padded[rows[:, None, :, None], rows[None, :, None, :]]    # [U, U, s, s, Ci, Co]
    c_in, c_out = kernel.shape[2:]
    gathered = jnp.transpose(gathered, (0, 1, 4, 2, 3, 5))              # [U, U, Ci, s, s, Co]
    return gathered.reshape(u, u, c_in, stride * stride * c_out), lo, hi


def depth_to_space(x: jax.Array, s: int) -> jax.Array:
    """[B, H, W, s*s*C] with channels (row phase, col phase, c) -> [B, s*H, s*W, C]."""
    b, h, w, c = x.shape
    x = x.reshape(b, h, w, s, s, c // (s * s))
    return jnp.transpose(x, (0, 1, 3, 2, 4, 5)).reshape(b, h * s, w * s, c // (s * s))


def patches(xp: jax.Array, rows, cols, out_h: int, out_w: int, stride: int = 1) -> jax.Array:
    """im2col by slicing: for every tap (i, j) in ``rows`` x ``cols`` (offsets into the padded
    input ``xp`` [B, H, W, C]) the slice ``xp[:, i + stride*y, j + stride*x, :]`` over output
    pixels (y, x), concatenated along channels in (row, column, channel) order.

    Returns [B, out_h, out_w, len(rows) * len(cols) * C].
    """
    return jnp.concatenate(
        [xp[:, i:i + stride * (out_h - 1) + 1:stride, j:j + stride * (out_w - 1) + 1:stride, :]
         for i in rows for j in cols], axis=-1)


def sn_layer(layer: nn.Module, x: jax.Array, train: bool, spectral_norm: bool) -> jax.Array:
    """``layer(x)``, through ``nn.SpectralNorm`` when ``spectral_norm`` is set.

    Spectral normalisation (Miyato et al., "Spectral Normalization for Generative Adversarial
    Networks", ICLR 2018) divides the kernel, reshaped to [fan_in, fan_out], by its largest
    singular value sigma, estimated by one power iteration per call. The iteration's vector
    ``u`` and the latest ``sigma`` are variables of the ``batch_stats`` collection, carried
    through the train step like BatchNorm's statistics; in train mode they are updated, in
    evaluation mode the stored ones are used.
    """
    if not spectral_norm:
        return layer(x)
    return nn.SpectralNorm(layer, n_steps=1)(x, update_stats=train)


class _ConvTransposeRewrite(nn.Module):
    """Parameters of ``nn.ConvTranspose(features, (k, k), strides=(s, s), "SAME")``.

    Each subclass computes the same function another way in its
    ``transpose_conv(x, kernel)`` (inputs already in the compute dtype, bias added
    here); the kernel is declared in ConvTranspose's layout ``[k, k, C_in, C_out]``.
    """

    features: int
    kernel_size: int = 4
    stride: int = 2
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()
    use_bias: bool = True
    dtype: Any = jnp.float32            # computation dtype; parameters stay float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.kernel_size
        kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features))
        if not self.use_bias:
            x, kernel = nn.dtypes.promote_dtype(x, kernel, dtype=self.dtype)
            return self.transpose_conv(x, kernel)
        bias = self.param("bias", self.bias_init, (self.features,))
        x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
        return self.transpose_conv(x, kernel) + bias


class SubPixelConvTranspose(_ConvTransposeRewrite):
    """``nn.ConvTranspose(features, (k, k), strides=(s, s), padding="SAME")``, exactly.

    Inputs [B, H, W, C_in] -> outputs [B, s*H, s*W, features].
    """

    def transpose_conv(self, x: jax.Array, kernel: jax.Array) -> jax.Array:
        s = self.stride
        w, lo, hi = subpixel_kernel(kernel, s)
        # Offsets lo..hi around each input pixel: pad -lo before and hi after.
        y = lax.conv_general_dilated(x, w, (1, 1), [(-lo, hi), (-lo, hi)],
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return depth_to_space(y, s)


class PhaseConvTranspose(_ConvTransposeRewrite):
    """``nn.ConvTranspose(features, (k, k), strides=(s, s), padding="SAME")``, exactly.

    The sub-pixel form of :class:`SubPixelConvTranspose` convolves every output
    phase with the whole ``U x U`` window of offsets (U = 3 for k = 4, s = 2), a
    quarter of whose taps are zero for each phase. This layer computes each
    phase (a, b) with only that phase's taps (2 x 2 for k = 4, s = 2: 4/9 of the
    sub-pixel work) and interleaves the s*s results. A phase is one matrix
    product of its patches (the input shifted by each offset it reads,
    concatenated along channels) with its taps of the kernel, not a convolution:
    XLA:CPU computes a convolution's kernel gradient as a convolution whose
    window is the whole image, several times slower than the product's
    ``patches^T @ dy``. It pays off where the output has many channels (the
    DCGAN generator's 7 -> 14 layer); with few output channels the s*s small
    products cost more than one larger convolution. Parameters are stored as
    ConvTranspose stores them.

    Inputs [B, H, W, C_in] -> outputs [B, s*H, s*W, features].
    """

    def transpose_conv(self, x: jax.Array, kernel: jax.Array) -> jax.Array:
        k, s = self.kernel_size, self.stride
        taps, lo, hi = phase_taps(k, s)
        # Per phase a: (offset, kernel tap) pairs of the taps it reads.
        reads = [[(u + lo, int(taps[u, a])) for u in range(taps.shape[0]) if taps[u, a] >= 0]
                 for a in range(s)]
        _, h, w_, _ = x.shape
        xp = jnp.pad(x, [(0, 0), (-lo, hi), (-lo, hi), (0, 0)])  # offset d at xp[d - lo]
        phase_rows = []
        for a in range(s):
            row = []
            for b in range(s):
                w = kernel[np.array([t for _, t in reads[a]])[:, None],
                           np.array([t for _, t in reads[b]])[None, :]]
                p = patches(xp, [d - lo for d, _ in reads[a]], [e - lo for e, _ in reads[b]],
                            h, w_)                                  # in w's tap order
                row.append(jnp.dot(p, w.reshape(-1, w.shape[-1])))
            phase_rows.append(jnp.stack(row, axis=3))           # [B, H, W, s(b), C]
        y = jnp.stack(phase_rows, axis=2)                       # [B, H, s(a), W, s(b), C]
        n, h, _, w_, _, c = y.shape
        return y.reshape(n, h * s, w_ * s, c)


class _ConvRewrite(nn.Module):
    """Parameters of ``nn.Conv(features, (k, k))``: kernel ``[k, k, C_in, features]`` and
    bias. Each subclass computes its function another way in ``conv(x, kernel)`` (inputs
    already in the compute dtype, bias added here), so checkpoints, parameter counts and
    spectral norm (which wraps any module with a kernel) are those of ``nn.Conv``.
    """

    features: int
    kernel_size: int = 3
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()
    dtype: Any = jnp.float32            # computation dtype; parameters stay float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.kernel_size
        kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features))
        bias = self.param("bias", self.bias_init, (self.features,))
        x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
        return self.conv(x, kernel) + bias


@functools.cache
def upsample_phase(k: int, a: int) -> tuple[np.ndarray, tuple[int, int]]:
    """How output phase ``a`` (0 or 1) of a SAME k x k convolution of a nearest-neighbour 2x
    up-sampled signal reads the signal before up-sampling.

    Output ``y[2i + a] = sum_t w[t] u[2i + a + t - p]`` (p = (k - 1) // 2) with
    ``u[m] = x[floor(m / 2)]``, so tap t reads ``x[i + floor((a + t - p) / 2)]``. Returns the
    0/1 matrix ``R[o, t]`` (offset ``lo + o`` gathers taps t: the phase's kernel is R w) and
    the padding (-lo, hi) of a VALID convolution at the input's resolution.
    """
    p = (k - 1) // 2
    offsets = [(a + t - p) // 2 for t in range(k)]
    lo, hi = min(offsets), max(offsets)
    r = np.zeros((hi - lo + 1, k), np.float32)
    for t, d in enumerate(offsets):
        r[d - lo, t] = 1.0
    return r, (-lo, hi)


class UpsampleConv(_ConvRewrite):
    """``nn.Conv(features, (k, k), padding="SAME")`` of the input up-sampled 2x by nearest
    neighbour, computed at the input's resolution.

    Each of the four output phases (row parity, column parity) reads only
    ``ceil((k + 1) / 2)`` input offsets per axis, so the up-sampled convolution is four
    convolutions with 2 x 2 kernels (k = 3) summed from the 3 x 3 one: 16 taps per input
    pixel instead of 36, the same function up to float rounding (the summed taps add in
    another order). Parameters are those of ``nn.Conv`` (kernel ``[k, k, C_in, features]``,
    bias), so checkpoints, parameter counts and spectral norm are unchanged.

    Inputs [B, H, W, C_in] -> outputs [B, 2H, 2W, features].
    """

    def conv(self, x: jax.Array, kernel: jax.Array) -> jax.Array:
        k = self.kernel_size
        rows = []
        for a in (0, 1):
            ra, pad_a = upsample_phase(k, a)
            cols = []
            for b in (0, 1):
                rb, pad_b = upsample_phase(k, b)
                w = jnp.einsum("ut,vs,tsio->uvio", ra, rb, kernel)
                cols.append(lax.conv_general_dilated(x, w, (1, 1), [pad_a, pad_b],
                                                     dimension_numbers=("NHWC", "HWIO", "NHWC")))
            rows.append(jnp.stack(cols, axis=3))                   # [B, H, W, 2, C]
        y = jnp.stack(rows, axis=2)                                # [B, H, 2, W, 2, C]
        n, h, _, w_, _, c = y.shape
        return y.reshape(n, 2 * h, 2 * w_, c)


# Winograd's F(2x2, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural
# Networks", CVPR 2016): a 2x2 output tile from a 4x4 input tile d and a 3x3 kernel g is
# A^T [(G g G^T) * (B^T d B)] A, 16 products instead of 36.
WINOGRAD_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float32)
WINOGRAD_G = np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], np.float32)
WINOGRAD_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float32)


def _combine(coefficients, terms):
    """sum_i coefficients[i] * terms[i], skipping zero coefficients (the transforms' entries
    are 0, +-1 or 0.5)."""
    out = None
    for c, t in zip(coefficients, terms, strict=True):
        if c == 0:
            continue
        t = t if c == 1 else -t if c == -1 else c * t
        out = t if out is None else out + t
    return out


class WinogradConv(_ConvRewrite):
    """``nn.Conv(features, (3, 3), padding="SAME")`` by Winograd's minimal filtering
    F(2x2, 3x3): the input cut into 4x4 tiles with stride 2, both transformed by adds, the
    product done as 16 matrix products ``[B*H*W/4, C_in] x [C_in, features]`` (16 taps per
    2x2 output tile instead of 36), transformed back. The same function up to float rounding
    (relative differences ~1e-6 in float32). On XLA:CPU it is 1.5-3x faster than the direct
    convolution for 256 channels at 16x16 and 32x32, forward and backward
    (``benchmarks/speed.py --resnet``); odd sides are padded by one zero row/column and
    cropped. Parameters are those of ``nn.Conv`` (``kernel_size`` must be 3).
    """

    def conv(self, x: jax.Array, kernel: jax.Array) -> jax.Array:
        if self.kernel_size != 3:
            raise ValueError(f"WinogradConv computes 3x3 convolutions, not {self.kernel_size}x"
                             f"{self.kernel_size}; use nn.Conv")
        return winograd_conv3x3(x, kernel)


def winograd_conv3x3(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """The stride-1 "SAME" convolution of x [B, H, W, C_in] with kernel [3, 3, C_in, C_out]
    by Winograd's F(2x2, 3x3) (see :class:`WinogradConv`); [B, H, W, C_out]."""
    n, h, w, _ = x.shape
    th, tw = -(-h // 2), -(-w // 2)                                # output tiles per side
    xp = jnp.pad(x, ((0, 0), (1, 1 + h % 2), (1, 1 + w % 2), (0, 0)))
    d = [[xp[:, u:u + 2 * th:2, v:v + 2 * tw:2] for v in range(4)] for u in range(4)]
    rows = [[_combine(WINOGRAD_BT[a], [d[u][v] for u in range(4)]) for v in range(4)]
            for a in range(4)]
    u_kernel = jnp.einsum("ai,ijco,bj->abco", WINOGRAD_G, kernel, WINOGRAD_G)
    m = [[jnp.dot(_combine(WINOGRAD_BT[b], rows[a]), u_kernel[a, b]) for b in range(4)]
         for a in range(4)]
    cols = [[_combine(WINOGRAD_AT[r], [m[a][b] for a in range(4)]) for b in range(4)]
            for r in range(2)]
    y = jnp.stack([jnp.stack([_combine(WINOGRAD_AT[q], cols[r]) for q in range(2)], 3)
                   for r in range(2)], 2)                          # [B, th, 2, tw, 2, O]
    return y.reshape(n, 2 * th, 2 * tw, kernel.shape[-1])[:, :h, :w]


class ConvPool(_ConvRewrite):
    """``nn.Conv(features, (k, k), padding="SAME")`` followed by 2 x 2 average pooling of
    stride 2, as one stride-2 convolution.

    Pooling a convolution averages four shifted copies of its kernel, so the pair is a
    (k + 1) x (k + 1) convolution of stride 2 whose kernel is that average: (k + 1)^2 / 4
    taps per input pixel instead of k^2 (4 instead of 9 for k = 3), the same function up to
    float rounding. Parameters are those of ``nn.Conv``, so checkpoints, parameter counts and
    spectral norm are unchanged.

    Inputs [B, H, W, C_in] (H, W even) -> outputs [B, H/2, W/2, features].
    """

    def conv(self, x: jax.Array, kernel: jax.Array) -> jax.Array:
        k = self.kernel_size
        padded = jnp.pad(kernel, ((1, 1), (1, 1), (0, 0), (0, 0)))
        # Pooled tap d in 0..k reads kernel taps d - a for the pooling offsets a in {0, 1}.
        pooled = sum(padded[1 - a:k + 2 - a, 1 - b:k + 2 - b] for a in (0, 1) for b in (0, 1))
        p = (k - 1) // 2
        return lax.conv_general_dilated(x, 0.25 * pooled, (2, 2), [(p, k - 1 - p)] * 2,
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


class PatchConv(_ConvRewrite):
    """``nn.Conv(features, (k, k), strides=(s, s), padding="SAME")``, exactly.

    Computed as one matrix product of the input's k x k patches (im2col: k*k strided
    slices concatenated along channels, ordered (row tap, column tap, channel) like the
    kernel) with the kernel reshaped to ``[k*k*C_in, features]``. For few input channels
    (the discriminator's first layer reads 1 or 3) XLA:CPU's convolution, forward and
    backward, is several times slower than this product; with many input channels the
    patch tensor (k*k times the input) costs more than it saves. Parameters are stored as
    ``nn.Conv`` stores them.

    Inputs [B, H, W, C_in] -> outputs [B, ceil(H/s), ceil(W/s), features].
    """

    kernel_size: int = 4
    stride: int = 2                     # a keyword: it follows the base's fields

    def conv(self, x: jax.Array, kernel: jax.Array) -> jax.Array:
        k, s = self.kernel_size, self.stride
        c_in = x.shape[-1]
        pads, outs = [(0, 0)], []
        for size in x.shape[1:3]:
            out = -(-size // s)
            total = max((out - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
            outs.append(out)
        xp = jnp.pad(x, pads + [(0, 0)])
        (oh, ow) = outs
        p = patches(xp, range(k), range(k), oh, ow, s)              # [B, oh, ow, k*k*C_in]
        return jnp.dot(p, kernel.reshape(k * k * c_in, self.features))
