"""Pictures of a run: image grids, and toy samples drawn over the true density.

PNG files only, no screen. Figures are built with matplotlib's object-oriented
API (``matplotlib.figure.Figure``, rendered by Agg when saved) and never through
``pyplot``: pyplot keeps every figure alive until it is closed, and switching
its backend with ``matplotlib.use("Agg")`` at import time would silently turn
off inline plots in a notebook that imports this module after pyplot. A
``Figure`` made here is garbage once the function returns, so long runs do not
accumulate memory.

Axis limits come from the mixture, not from the samples, so the frames of one
run line up (Goodfellow et al. 2014, Fig. 1 for the 1-D picture with D(x)).

Conditional models' image grids have one row per class (:func:`class_rows`): row r shows
samples generated for class r, rows in class order, the first :data:`MAX_CLASS_ROWS`
classes of data with more (emoji categories beyond the tenth are not drawn).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import matplotlib.image
import numpy as np
from matplotlib.figure import Figure

from gan_jax.data import synthetic

_PAD = 2  # pixels of white between grid cells
MAX_CLASS_ROWS = 10  # classes drawn in a conditional model's grid (the first ones)


def class_rows(labels, num_classes: int, max_images: int | None = None,
               max_classes: int = MAX_CLASS_ROWS) -> tuple[np.ndarray, int]:
    """The layout of a per-class grid: ``(order, ncols)``.

    ``order`` [R * ncols] indexes the samples so that, drawn row by row with ``ncols``
    columns, row r holds samples of label r (in their order among the samples),
    R = min(num_classes, max_classes). ``ncols`` is the fewest samples any of these classes
    has, and at most ``max_images // R``. ValueError if one of the R classes has none.
    """
    labels = np.asarray(labels).reshape(-1)
    rows = min(int(num_classes), int(max_classes))
    members = [np.flatnonzero(labels == c) for c in range(rows)]
    ncols = min(len(m) for m in members)
    if max_images is not None:
        ncols = min(ncols, int(max_images) // rows)
    if ncols < 1:
        raise ValueError(f"a per-class grid needs a sample of each of classes 0..{rows - 1}; "
                         f"got {labels.size} samples (draw at least {rows})")
    return np.concatenate([m[:ncols] for m in members]), ncols


def save_image_grid(images, path: str, ncols: int | None = None) -> None:
    """Writes images [N, H, W, C] float in [-1, 1] (C = 1 or 3; [N, H, W] is C = 1) as one PNG.

    Values are clipped to [-1, 1] and mapped to [0, 1]; C = 1 is drawn in gray.
    ``ncols`` defaults to ceil(sqrt(N)). Each image pixel becomes an s x s block
    (integer s, the picture about 512 px on its long side), so the grid stays sharp.
    """
    images = np.asarray(images, np.float32)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or len(images) == 0:
        raise ValueError(f"images of shape {images.shape} are not [N, H, W, 1 or 3], N > 0")
    images = (np.clip(images, -1.0, 1.0) + 1.0) / 2.0
    n, h, w, c = images.shape
    ncols = max(1, min(ncols or math.ceil(math.sqrt(n)), n))
    nrows = math.ceil(n / ncols)
    grid = np.ones((nrows * (h + _PAD) + _PAD, ncols * (w + _PAD) + _PAD, c), np.float32)
    for i, image in enumerate(images):
        top, left = _PAD + (i // ncols) * (h + _PAD), _PAD + (i % ncols) * (w + _PAD)
        grid[top:top + h, left:left + w] = image
    scale = int(np.clip(512 // max(grid.shape[:2]), 1, 8))
    grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    if c == 1:
        matplotlib.image.imsave(path, grid[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
    else:
        matplotlib.image.imsave(path, grid)


def _limits(mixture) -> tuple[float, float]:
    """One (lo, hi) for every axis: the means +- 4 of the widest std, plus a 25% margin."""
    means = np.asarray(mixture.means, np.float64)
    spread = 4.0 * float(np.max(mixture.stds))
    lo, hi = float(means.min()) - spread, float(means.max()) + spread
    pad = 0.25 * (hi - lo)
    return lo - pad, hi + pad


def _density_image(mixture, lo: float, hi: float, res: int = 400) -> np.ndarray:
    """[res, res] shading of the 2-D density, row 0 at y = lo.

    The log density is shown (clipped 12 nats below the peak, i.e. out to about
    5 std) rather than the density, so modes much narrower than a pixel still
    appear as visible discs.
    """
    ticks = np.linspace(lo, hi, res)
    xx, yy = np.meshgrid(ticks, ticks)
    log_p = np.asarray(synthetic.log_density(mixture, np.stack([xx.ravel(), yy.ravel()], -1)))
    return np.clip(log_p - log_p.max() + 12.0, 0.0, None).reshape(res, res)


def _draw_toy(ax, samples: np.ndarray, mixture, lo: float, hi: float, density,
              d_fn: Callable | None = None, legend: bool = True) -> None:
    """Draws one panel: ``density`` is the 2-D shading (d = 2) or None (d = 1)."""
    if samples.shape[1] == 2:
        ax.imshow(density, extent=(lo, hi, lo, hi), origin="lower", cmap="Greys",
                  vmin=0.0, vmax=1.8 * max(float(density.max()), 1e-9), interpolation="bilinear")
        ax.scatter(samples[:, 0], samples[:, 1], s=3, c="tab:blue", alpha=0.5, linewidths=0,
                   label="generated")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        return
    xs = np.linspace(lo, hi, 1000)
    p = np.exp(np.asarray(synthetic.log_density(mixture, xs[:, None]), np.float64))
    # Bins no wider than half the narrowest std, so a perfect generator's
    # histogram traces the curve; samples off the frame pile into the edge bins.
    bins = int(np.clip((hi - lo) / (0.5 * float(np.min(mixture.stds))), 50, 400))
    ax.hist(np.clip(samples[:, 0], lo, hi), bins=bins, range=(lo, hi), density=True,
            color="tab:green", alpha=0.5, label="generated")
    ax.plot(xs, p, c="k", lw=1.5, label="data density")
    ax.set_xlim(lo, hi)
    # A fixed height keeps frames comparable; a collapsed generator's spike is cut off.
    ax.set_ylim(0.0, 1.5 * float(p.max()))
    handles, _ = ax.get_legend_handles_labels()
    if d_fn is not None:
        ax2 = ax.twinx()
        d = np.asarray(d_fn(xs[:, None].astype(np.float32)), np.float64).reshape(-1)
        handles += ax2.plot(xs, d, c="tab:blue", ls="--", lw=1.5, label="D(x)")
        ax2.set_ylim(0.0, 1.0)
        ax2.set_ylabel("D(x)")
    if legend:
        ax.legend(handles=handles, loc="upper left", fontsize="small")


def _as_samples(samples, mixture) -> np.ndarray:
    d = int(np.shape(mixture.means)[1])
    x = np.asarray(samples, np.float64)
    if x.ndim == 1 and d == 1:
        x = x[:, None]
    if d not in (1, 2) or x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"toy plots need samples [N, 1] or [N, 2] matching the mixture's d = "
                         f"{d}; got {x.shape}")
    return x


def save_toy_plot(samples, mixture, path: str, title: str = "",
                  d_fn: Callable | None = None) -> None:
    """Writes one PNG of samples [N, d] (d = 1 or 2) over the mixture's density.

    d = 2: the log density as light gray shading, samples as small dots.
    d = 1: the density curve, a normalised histogram of the samples and, if
    ``d_fn`` (x [M, 1] float32 -> D(x) probabilities [M]) is given, D's curve
    on a second y axis over [0, 1].
    """
    x = _as_samples(samples, mixture)
    lo, hi = _limits(mixture)
    two_d = x.shape[1] == 2
    fig = Figure(figsize=(5, 5) if two_d else (6, 3.5), dpi=100)
    ax = fig.add_subplot()
    _draw_toy(ax, x, mixture, lo, hi, _density_image(mixture, lo, hi) if two_d else None, d_fn)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)


def save_toy_panels(sample_list: Sequence, steps: Sequence[int], mixture, path: str) -> None:
    """Writes one PNG: a row of panels, samples [N_i, d] at each training step in ``steps``."""
    if len(sample_list) != len(steps) or not steps:
        raise ValueError(f"{len(sample_list)} sample sets for {len(steps)} steps; "
                         "need one per step, at least one")
    xs = [_as_samples(s, mixture) for s in sample_list]
    lo, hi = _limits(mixture)
    density = _density_image(mixture, lo, hi, res=200) if xs[0].shape[1] == 2 else None
    fig = Figure(figsize=(3 * len(steps), 3), dpi=100)
    axes = fig.subplots(1, len(steps), squeeze=False)[0]
    for ax, x, step in zip(axes, xs, steps, strict=True):
        _draw_toy(ax, x, mixture, lo, hi, density, legend=False)
        ax.set_title(f"step {step}", fontsize="medium")
        ax.tick_params(labelsize="small")
    fig.tight_layout()
    fig.savefig(path)


def save_samples(samples, source, path: str, title: str = "", d_fn: Callable | None = None,
                 max_images: int = 256, labels=None) -> None:
    """The picture of a run's samples: toy vectors over the source's mixture density
    (:func:`save_toy_plot`), images as a grid of the first ``max_images``
    (:func:`save_image_grid`).

    ``labels`` [N] (a conditional model's samples: the classes they were generated for)
    draws the images one row per class (:func:`class_rows`); without them, or with fewer
    samples than rows, the grid is in sample order.
    """
    num_classes = source.spec.num_classes
    if len(source.spec.shape) == 1:
        save_toy_plot(samples, source.mixture, path, title=title, d_fn=d_fn)
    elif labels is not None and num_classes and len(samples) >= min(num_classes,
                                                                    MAX_CLASS_ROWS):
        order, ncols = class_rows(labels, num_classes, max_images)
        save_image_grid(np.asarray(samples)[order], path, ncols=ncols)
    else:
        save_image_grid(np.asarray(samples)[:max_images], path)
