"""One image file to uint8 pixels, the way an image folder is built into a dataset.

``load_image(path, resolution, channels)``, per image:
    1. decode with PIL (PNG, JPEG, WebP, BMP, GIF's first frame, TIFF), refusing
       images over PIL's decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``)
       from their header, before any pixel is decoded;
    2. rotate or flip as the EXIF orientation tag says (``ImageOps.exif_transpose``);
    3. palette images with transparency become RGBA; RGBA and LA images are
       composited on white, so transparent pixels become 255;
    4. 16-bit greyscale (modes ``I;16*`` and ``I``, as PIL opens 16-bit PNG and
       TIFF) is scaled to 8 bits as round(v * 255 / 65535), so 65535 maps to
       255 rather than being clipped; values of ``I`` outside 0..65535 are
       clipped first. Every other mode (1, L, P, RGB, CMYK, YCbCr, ...) goes
       through PIL's ``convert`` to RGB (``channels=3``) or L (``channels=1``,
       ITU-R 601-2 luma);
    5. centre-crop to the largest square;
    6. resize to ``resolution`` with PIL's LANCZOS filter, downscaling and
       upscaling alike (images smaller than ``resolution`` are upscaled and
       counted). PIL widens its filters by the scale factor, so LANCZOS and BOX
       both antialias, unlike the resizers of TensorFlow and PyTorch that
       Parmar et al. found to alias ("On Aliased Resizing and Surprising
       Subtleties in GAN Evaluation", CVPR 2022). BOX is the exact area average
       but the softest filter and, with its sinc-shaped frequency response, the
       leakier low-pass; LANCZOS (3 lobes) is sharper and stops more of what
       lies above the new Nyquist frequency, at the price of a slight ringing
       at hard edges (clipped to 0..255). It is also the filter of StyleGAN2-ADA's
       dataset_tool (Karras et al., NeurIPS 2020), so datasets made here match
       those of that line of work;
    7. uint8 ``[resolution, resolution, channels]``.

``decode`` is the same for a pool worker of ``gan_jax/data/folder.py``: a file that cannot
be decoded becomes a reason, not an exception.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
from PIL import Image, ImageOps

from gan_jax.errors import one_line

RESIZE_FILTER = Image.Resampling.LANCZOS


def load_image(path, resolution: int, channels: int = 3) -> tuple[np.ndarray, bool]:
    """One image file as uint8 ``[resolution, resolution, channels]``, and whether upscaled.

    The steps are those of this module's docstring. Raises whatever PIL raises for
    a file it cannot decode, including ``Image.DecompressionBombError`` (and the
    warning, when warnings are errors) for one over ``Image.MAX_IMAGE_PIXELS``.
    """
    with Image.open(path) as opened:
        image = _to_mode(ImageOps.exif_transpose(opened), channels)
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    # Cropped first: resize(box=...) would let the filter reach past the box and
    # blend the cut-away borders into the edge pixels.
    image = image.crop((left, top, left + side, top + side))
    if side != resolution:
        image = image.resize((resolution, resolution), RESIZE_FILTER)
    pixels = np.asarray(image, dtype=np.uint8)
    if channels == 1:
        pixels = pixels[..., None]
    return pixels, side < resolution


def _to_mode(image: Image.Image, channels: int) -> Image.Image:
    """``image`` in mode RGB or L, transparency composited on white, 16 bits scaled to 8."""
    if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N"):
        wide = np.clip(np.asarray(image).astype(np.int64), 0, 65535)
        # round(v * 255 / 65535) in integers, halves up.
        image = Image.fromarray(((wide * 255 + 32767) // 65535).astype(np.uint8), "L")
    elif image.mode == "PA" or (image.mode in ("P", "L", "RGB") and "transparency" in image.info):
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "RGBa", "La"):
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image.convert("RGBA"))
    return image.convert("RGB" if channels == 3 else "L")


@contextlib.contextmanager
def pixel_limit(limit: int | None):
    """PIL's decompression-bomb limit set to ``limit``, its excess an error, for a while."""
    before = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = limit
    try:
        with warnings.catch_warnings():
            # PIL only warns between the limit and twice the limit; both are refused here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = before


def decode(task: tuple[str, int, int, int | None]):
    """Pool worker: ``(pixels, upscaled, None)``, or ``(None, False, reason)`` for a bad image."""
    path, resolution, channels, limit = task
    try:
        with pixel_limit(limit):
            pixels, upscaled = load_image(path, resolution, channels)
    except Exception as e:  # PIL raises many kinds for damaged files; each is a bad image
        return None, False, one_line(e)[:300]
    return pixels, upscaled, None
