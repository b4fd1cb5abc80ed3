"""Mode collapse on ring-8 and grid-25: the VEEGAN / PacGAN protocol, over seeds.

Srivastava et al., "VEEGAN", NeurIPS 2017, Sec. 5.1 and Table 1, and Lin et al., "PacGAN",
NeurIPS 2018, Table 1: a mixture of 8 Gaussians on a ring (here radius 1, std 0.01, the
papers' radius-2 / std-0.02 ring at half scale) and of 25 on the grid {-4, -2, 0, 2, 4}^2
(std 0.05); 2,500 samples of the trained generator; a sample is high quality within 3 std of
its nearest mode, a mode is captured when at least one high-quality sample is nearest to it,
and the reverse KL is that of the histogram of high-quality samples over the modes to the
uniform one (gan_jax.eval.modes). Four training methods, each gan_jax's own:

* ``nonsaturating``: the cross-entropy GAN with the -log D generator loss;
* ``unrolled``: G looks through K = 5 unrolled D updates (Metz et al., ICLR 2017) on the
  settings below: the ``gan_jax`` protocol, not the papers'. Its grid-25 count (about 9 of 25)
  is far from VEEGAN's 23.6 for this reason; ``experiments/paper/unrolled.py`` runs the
  unrolled GAN on Metz et al.'s and VEEGAN's own protocols (``metz2017``, ``veegan2017``) and
  says what closes the gap;
* ``wgan_gp``: the Wasserstein critic with the two-sided gradient penalty, lambda = 0.1 and 5
  critic steps per G step (Gulrajani et al. 2017's settings for their toy mixtures);
* ``r1``: the non-saturating GAN with R1, gamma = 0.1 (gamma/2 convention; Mescheder et al.
  2018; 0.1 scored at least as well as 1 in a 600-step ring-8 check over 2 seeds, made with
  ring8.py's 3-layer networks).

Everything else is experiments/configs/ring8.py with Metz et al.'s toy networks: MLP G and D
with 2 hidden layers of 128 (ReLU in G, leaky ReLU in D), latent dimension 2, Adam(1e-3,
b1 = 0.5) for both, batch 256, ``NUM_STEPS`` G updates. The runs use gan_jax.toy_seeds, which
vmaps gan_jax.steps.train_step over the seeds in one compiled program (each seed's run is the
run train_and_evaluate makes with that seed); samples come from the fixed evaluation latents
of train_and_evaluate. The schedule is far shorter than the papers' (tens of thousands of
steps), so absolute numbers are not the papers': at 1,000 steps the grid-25 generators are
still spreading mass between the modes (``mode_collapse_long`` trains grid-25 for 10,000).
Run time: the committed record took 5.5 minutes on 2 free CPU cores (30 minutes when the
cores were shared with about ten other processes); the unrolled GAN is about half of it.

    python -m experiments.paper.mode_collapse [--out DIR] [--quick]
"""

from __future__ import annotations

import os
import time

import numpy as np
from matplotlib.figure import Figure

from experiments.configs import ring8 as ring8_config
from experiments.paper import common
from gan_jax import plotting, sweep, toy_seeds
from gan_jax.data import synthetic
from gan_jax.eval import modes

NUM_STEPS = 1000
SEEDS = (0, 1, 2)
QUICK_STEPS, QUICK_SEEDS = 100, (0, 1)  # quick: ring-8 and the non-saturating GAN only

METHODS = {
    "nonsaturating": ("cross-entropy GAN (non-saturating)", {}),
    "unrolled": ("unrolled GAN (K = 5)", {"unroll_steps": 5}),
    "wgan_gp": ("WGAN-GP (lambda 0.1, 5 critic steps)",
                {"loss": "wasserstein", "n_disc": 5, "penalty": "gp", "penalty_weight": 0.1}),
    "r1": ("R1 (gamma 0.1)", {"penalty": "r1", "penalty_weight": 0.1}),
}
DATASETS = {
    "ring8": {"data.name": "ring8", "data.radius": 1.0, "data.std": 0.01},
    "grid25": {"data.name": "grid25", "data.std": 0.05},
}
QUICK_METHODS = ("nonsaturating",)
MODEL = {"model.hidden": 128, "model.depth": 2}  # Metz et al. 2017's toy networks
METRICS = ("modes_captured", "high_quality", "reverse_kl")

# VEEGAN (Srivastava et al. 2017) Table 1, on their radius-2 ring and the same grid (as on
# the paper's project page, github.com/akashgit/VEEGAN, tab.png).
PAPER = {
    "ring8": {"GAN": {"modes_captured": 1.0, "high_quality": 0.993},
              "Unrolled GAN": {"modes_captured": 7.6, "high_quality": 0.356}},
    "grid25": {"GAN": {"modes_captured": 3.3, "high_quality": 0.005},
               "Unrolled GAN": {"modes_captured": 23.6, "high_quality": 0.16}},
}


def make_config(method: str, dataset: str, num_steps: int):
    """The gan_jax config of one (method, dataset) cell: ring8.py plus overrides."""
    config = ring8_config.get_config()
    sweep.apply_overrides(config, {**DATASETS[dataset], **METHODS[method][1], **MODEL,
                                   "num_steps": num_steps, "progress_bar": False})
    return config


def perfect_sampler_stats(dataset: str, seed: int = 0) -> dict[str, float]:
    """Mode statistics of 2,500 draws of the mixture itself (the protocol's ceiling)."""
    import jax

    config = make_config("nonsaturating", dataset, 1)
    mixture = synthetic.make_mixture(config.data)
    x = synthetic.sample_batch(mixture, jax.random.PRNGKey(seed), config.num_toy_samples)
    return modes.mode_stats(np.asarray(x), mixture)


def _summary(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, np.float64)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
            "min": float(a.min()), "max": float(a.max())}


def _draw(path: str, samples: dict, methods: list[str], datasets: list[str], seed: int,
          num_steps: int, table: dict) -> None:
    """One scatter panel per (dataset row, method column), samples of seed ``seed``."""
    fig = Figure(figsize=(3.2 * len(methods), 3.4 * len(datasets)), dpi=100)
    axes = fig.subplots(len(datasets), len(methods), squeeze=False)
    for row, dataset in zip(axes, datasets, strict=True):
        mixture = synthetic.make_mixture(make_config(methods[0], dataset, 1).data)
        lo, hi = plotting._limits(mixture)
        density = plotting._density_image(mixture, lo, hi, res=200)
        for ax, method in zip(row, methods, strict=True):
            x = samples[(method, dataset)]
            plotting._draw_toy(ax, x, mixture, lo, hi, density, legend=False)
            stats = table[dataset][method]["per_seed"][str(seed)]
            ax.set_title(f"{METHODS[method][0]}\n{dataset}: {stats['modes_captured']:.0f} modes, "
                         f"{100 * stats['high_quality']:.0f}% HQ", fontsize="small")
            ax.tick_params(labelsize="x-small")
    fig.suptitle(f"Mode collapse, seed {seed}, {num_steps} G steps: 2,500 samples over the "
                 "data density", fontsize="medium")
    fig.tight_layout()
    fig.savefig(path)


def run(out_dir: str, quick: bool = False, num_steps: int = NUM_STEPS,
        datasets: tuple[str, ...] = tuple(DATASETS), name: str = "mode_collapse") -> dict:
    """Trains every (method, dataset) for every seed, ``num_steps`` G steps each; the
    table, the checks and ``<name>.png``."""
    os.makedirs(out_dir, exist_ok=True)
    num_steps = QUICK_STEPS if quick else num_steps
    seeds = list(QUICK_SEEDS if quick else SEEDS)
    methods = list(QUICK_METHODS if quick else METHODS)
    datasets = ["ring8"] if quick else list(datasets)
    table: dict[str, dict] = {d: {} for d in datasets}
    samples = {}
    for dataset in datasets:
        for method in methods:
            config = make_config(method, dataset, num_steps)
            mixture = synthetic.make_mixture(config.data)
            start = time.perf_counter()
            states = toy_seeds.train_seeds(config, seeds)
            drawn = toy_seeds.sample_seeds(config, states, seeds)
            seconds = time.perf_counter() - start
            per_seed = {str(s): modes.mode_stats(x, mixture)
                        for s, x in zip(seeds, drawn, strict=True)}
            samples[(method, dataset)] = drawn[0]
            table[dataset][method] = {
                "per_seed": per_seed, "train_seconds_all_seeds": round(seconds, 1),
                **{m: _summary([per_seed[str(s)][m] for s in seeds]) for m in METRICS}}
    _draw(os.path.join(out_dir, f"{name}.png"), samples, methods, datasets, seeds[0],
          num_steps, table)

    perfect = {d: perfect_sampler_stats(d) for d in DATASETS}
    finite = all(np.isfinite(table[d][m][k][s]) for d in datasets for m in methods
                 for k in METRICS for s in ("mean", "std"))
    checks = {
        "every table entry is finite": finite,
        "the perfect sampler captures every mode (8 and 25)":
            perfect["ring8"]["modes_captured"] == 8 and perfect["grid25"]["modes_captured"] == 25,
    }
    if "grid25" in datasets and not quick:
        ns, best = table["grid25"]["nonsaturating"], max(
            table["grid25"][m]["modes_captured"]["mean"] for m in methods if m != "nonsaturating")
        checks["on grid-25 some regularised method captures more modes on average than the "
               "non-saturating GAN"] = best > ns["modes_captured"]["mean"]

    def cell(d, m):
        return (f"{table[d][m]['modes_captured']['mean']:.1f}"
                f"+-{table[d][m]['modes_captured']['std']:.1f}")

    ours = "; ".join(f"{d}: " + ", ".join(f"{m} {cell(d, m)}" for m in methods)
                     for d in datasets)
    return {
        "title": "VEEGAN / PacGAN mode-collapse protocol, "
                 + " and ".join({"ring8": "ring-8", "grid25": "grid-25"}[d] for d in datasets)
                 + ("" if num_steps == NUM_STEPS else f", {num_steps:,} G steps"),
        "paper": "VEEGAN Tab. 1 modes: " + "; ".join(
            {"ring8": "ring GAN 1.0, unrolled 7.6 of 8",
             "grid25": "grid GAN 3.3, unrolled 23.6 of 25"}[d] for d in datasets),
        "ours": f"modes captured, mean+-std over {len(seeds)} seeds, {num_steps} steps: {ours}",
        "numbers": {
            "table": table,
            "perfect_sampler": perfect,
            "paper_veegan_table1": PAPER,
            "settings": {"num_steps": num_steps, "seeds": seeds,
                         "methods": {m: {"label": METHODS[m][0], "overrides": METHODS[m][1]}
                                     for m in methods},
                         "datasets": DATASETS, "model": MODEL,
                         "base_config": "experiments/configs/ring8.py",
                         "samples": 2500, "high_quality_std": 3.0, "min_count": 1},
        },
        "checks": checks,
        "tolerances": {"perfect_sampler_modes": "exact"},
    }


if __name__ == "__main__":
    common.main(run, __doc__)
