"""Pictures of a run: image grids, and toy samples over the data density.

Matplotlib with the Agg backend (no screen needed). Every function closes its
figure, so long runs do not accumulate memory.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gan_jax.data import synthetic  # noqa: E402


def save_image_grid(images, path: str, ncols: int | None = None) -> None:
    """Writes images [N, H, W, C] in [-1, 1] (C = 1 or 3) as one PNG grid."""
    images = (np.clip(np.asarray(images, np.float32), -1, 1) + 1) / 2
    n, h, w, c = images.shape
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    grid = np.ones((nrows * (h + 2), ncols * (w + 2), c), np.float32)
    for i, img in enumerate(images):
        r, col = divmod(i, ncols)
        grid[r * (h + 2) + 1: r * (h + 2) + 1 + h, col * (w + 2) + 1: col * (w + 2) + 1 + w] = img
    fig = plt.figure(figsize=(grid.shape[1] / 25, grid.shape[0] / 25), dpi=100)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.axis("off")
    ax.imshow(grid[..., 0] if c == 1 else grid, cmap="gray" if c == 1 else None,
              vmin=0, vmax=1, interpolation="nearest")
    fig.savefig(path)
    plt.close(fig)


def _limits(mixture, margin: float = 0.25) -> tuple[float, float]:
    means = np.asarray(mixture.means)
    spread = 4 * float(np.max(mixture.stds))
    lo, hi = float(means.min()) - spread, float(means.max()) + spread
    pad = margin * max(hi - lo, 1e-3)
    return lo - pad, hi + pad


def _draw_toy(ax, samples, mixture, d_fn=None) -> None:
    samples = np.asarray(samples)
    lo, hi = _limits(mixture)
    if samples.shape[-1] == 2:
        ticks = np.linspace(lo, hi, 200)
        xx, yy = np.meshgrid(ticks, ticks)
        density = np.exp(np.asarray(synthetic.log_density(
            mixture, np.stack([xx.ravel(), yy.ravel()], -1)))).reshape(xx.shape)
        ax.imshow(density, extent=(lo, hi, lo, hi), origin="lower", cmap="Greys", alpha=0.6,
                  vmax=np.quantile(density, 0.995) or None)
        ax.scatter(samples[:, 0], samples[:, 1], s=2, c="tab:blue", alpha=0.5, linewidths=0)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        return
    xs = np.linspace(lo, hi, 400)
    density = np.exp(np.asarray(synthetic.log_density(mixture, xs[:, None])))
    ax.plot(xs, density, c="k", lw=1.5, label="data density")
    ax.hist(np.clip(samples[:, 0], lo, hi), bins=80, range=(lo, hi), density=True,
            color="tab:green", alpha=0.5, label="generated")
    ax.set_xlim(lo, hi)
    if d_fn is not None:
        ax2 = ax.twinx()
        ax2.plot(xs, d_fn(xs[:, None]), c="tab:blue", ls="--", label="D(x)")
        ax2.set_ylim(0, 1)
        ax2.set_ylabel("D(x)")
    ax.legend(loc="upper left", fontsize="small")


def save_toy_plot(samples, mixture, path: str, title: str = "", d_fn=None) -> None:
    """Samples [N, d] (d = 1 or 2) over the mixture's density; for d = 1 also D(x).

    ``d_fn`` maps x [N, 1] to D's probabilities [N].
    """
    fig, ax = plt.subplots(figsize=(5, 5) if np.shape(samples)[-1] == 2 else (6, 3.5))
    _draw_toy(ax, samples, mixture, d_fn)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_toy_panels(sample_list, steps, mixture, path: str) -> None:
    """A row of panels, one per training step in ``steps``, of samples over the density."""
    fig, axes = plt.subplots(1, len(steps), figsize=(3 * len(steps), 3), squeeze=False)
    for ax, samples, step in zip(axes[0], sample_list, steps, strict=True):
        _draw_toy(ax, samples, mixture)
        ax.set_title(f"step {step}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
