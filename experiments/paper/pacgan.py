"""PacGAN (Lin et al., NeurIPS 2018): packing against mode collapse, Tables 1 and 2.

Packing (``config.model.pack = m``): D scores m samples at once, concatenated along the
feature axis (toys) or the channel axis (images), real with real and generated with
generated. GAN is m = 1, PacGAN2-4 are m = 2, 3, 4. Everything else follows the paper's
released code (github.com/fjxmlzn/PacGAN):

Table 1, synthetic mixtures (``synthetic_data_experiments``, the ``2DRing``/``2DGrid``
configs): the ring of 8 Gaussians (radius 1, std 0.01) and the grid of 25 on {-4, -2, 0, 2,
4}^2 (std 0.05); G with 4 hidden layers of 400 units (linear without bias, batch norm, ReLU),
z ~ N(0, I_2); D with 3 linear maxout layers of 200 units and 5 pieces (gan_jax model
``pacgan_mlp``); weights N(0, 0.02^2), biases 0; Adam(1e-4, beta1 = 0.8) for both players;
the cross-entropy loss with G minimising softplus(-D(G(z))) (the non-saturating loss); one D
step then one G step. The code's batch is 100 *packed* examples (each of its m streams
delivers 100 samples per step), so the batch of samples here is 100 m and D's batch 100.
Evaluation: 2,500 samples of G in inference mode (batch norm's running statistics), each
assigned to its nearest mode in units of that mode's std; high quality within 3 std; a mode
is captured when it holds at least one high-quality sample; reverse KL of the histogram of
high-quality samples to the uniform one (gan_jax.eval.modes; the code's MetricLogger has the
same rules, with a strict ``< 3``, which differs only on a set of measure zero).

Table 2, Stacked MNIST (``stacked_MNIST_experiments/VEEGAN_experiment``): three MNIST digits
as the channels of one 28x28 image, 128,000 training examples stacked from the 70,000 MNIST
images (gan_jax.data.stacked_mnist), 1,000 modes; Taehoon Kim's DCGAN with 64 base filters,
5x5 stride-2 convolutions, batch norm (gan_jax model ``pacgan_dcgan``), latent dimension 100;
Adam(2e-4, beta1 = 0.5), batch 64 packed examples (64 m images). Evaluation: 26,000 samples;
each channel is classified by gan_jax's MNIST LeNet (gan_jax.eval.feature_net; its test
accuracy is measured and recorded); modes = distinct digit triples, and the KL of the mode
histogram to the uniform one over the 1,000 modes.

Where gan_jax differs from the released code, by choice or by construction: real data are
drawn afresh each step for the toys (the code samples a fixed set of 100,000 packed points
once; the distribution is the same), G's latents are N(0, I) for Stacked MNIST (the code
uses U(-1, 1)^100), the code's DCGAN updates G twice per D update (gan_jax's step makes one),
and its real Stacked MNIST images are in [0, 1] against tanh samples in [-1, 1] (gan_jax
scales both to [-1, 1]).

Schedules: the code trains the toys for 400 epochs of 1,000 steps (400,000 steps, 10 trials
per cell) and Stacked MNIST for 50 epochs of 2,000 steps (100,000 D steps, 10 trials). On 2
shared CPU cores that is weeks: the full-width DCGAN step takes about 0.9 s (GAN) to 2 s
(PacGAN4) of wall time with gan_jax's layer forms (``benchmarks/pacgan_dcgan.py``; flax's
own layers take 16-35 s), so the code's 100,000 steps are 25-55 hours per run, and a
400,000-step toy trial several CPU-hours (the record states the measured cost of each).
The committed record therefore runs the toy protocol for ``TOY_STEPS`` steps over
``TOY_SEEDS`` and Stacked MNIST for ``STACKED_STEPS`` steps over ``STACKED_SEEDS``: the
numbers are those of the start of training, not of converged runs, and the record lists
any run it has not finished under ``missing_cells``. It also checks the Stacked MNIST
counting on 26,000 real examples (the protocol's ceiling).

What the committed record shows (toys 5,000 steps x 3 seeds; Stacked MNIST 1,000 steps,
seed 0; about 4.4 hours of wall time at idle priority on 2 shared cores, 9,700 CPU seconds):
* Stacked MNIST reproduces the paper's effect: DCGAN collapses to 14 of 1,000 modes (KL
  5.06; the paper's DCGAN 78.9, KL 4.50), PacDCGAN2 / 3 / 4 reach 898 / 858 / 725 modes (KL
  0.92 / 0.88 / 1.46; the paper 1,000, KL 0.06-0.07 after 100,000 steps). The packed
  samples are still blurry digits at 1,000 steps, so their mode counts measure diversity
  more than quality; the LeNet (test accuracy 0.991) reads 98.5% of real triples right.
* The toys have not left early training: every ring8 cell finds 7.7-8 of 8 modes, but
  high quality is 31-70% against the paper's 96-98%, and the grid25 generators still
  spread over the square (1.7-3.8% high quality against 91-95%), with 11-17 of 25 modes;
  PacGAN2 is the best grid cell (17.3 against GAN's 12.3), PacGAN3 and 4 are not. At
  the code's 400,000 steps a trial would take 2.7 (GAN) to 4.7 (PacGAN4) CPU hours.
Every cell is cached under ``WORKDIR`` (toy cells as JSON with seed 0's samples; Stacked
MNIST runs as gan_jax workdirs with checkpoints every 100 steps), so an interrupted run
resumes where it stopped:

    nice -n 19 python -m experiments.paper.pacgan            # every cell, then the record
    python -m experiments.paper.pacgan --toys-only           # toy cells; finished DCGAN runs
    python -m experiments.paper.pacgan --cached-only         # the record of finished cells
    python -m experiments.paper.pacgan --quick               # the test's version
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
from matplotlib.figure import Figure

from experiments.paper import common
from gan_jax import configs, models, plotting, sweep, toy_seeds
from gan_jax.data import synthetic

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKDIR = os.path.join(REPO, "workdirs", "paper_pacgan")
PACKS = (1, 2, 3, 4)
TOY_DATASETS = {
    "ring8": {"data.name": "ring8", "data.radius": 1.0, "data.std": 0.01},
    "grid25": {"data.name": "grid25", "data.std": 0.05},
}
TOY_STEPS, TOY_SEEDS = 5_000, (0, 1, 2)
STACKED_STEPS, STACKED_SEEDS = 1_000, (0,)
STACKED_EVAL_SAMPLES = 26_000
# The test's version: ring-8 with GAN and PacGAN2, Stacked MNIST with narrow networks.
QUICK = {"toy_steps": 30, "toy_seeds": (0, 1), "toy_datasets": ("ring8",), "packs": (2,),
         "stacked_steps": 2, "stacked_seeds": (0,), "stacked_eval": 300,
         "stacked_width": 8, "stacked_examples": 2_000}
# The code's full schedules, for the record.
PAPER_SCHEDULE = {"toy_steps": 400_000, "toy_trials": 10, "stacked_d_steps": 100_000,
                  "stacked_g_steps": 200_000, "stacked_trials": 10}
METRICS = ("modes_captured", "high_quality", "reverse_kl")

# Lin et al. 2018, Table 1 (github.com/fjxmlzn/PacGAN, synthetic_data_experiments/results/
# Table1.png): mean +- standard error over 10 trials; high quality as a fraction.
PAPER_TABLE1 = {
    "ring8": {1: (6.3, 0.5, 0.982, 0.002, 0.45, 0.09), 2: (7.9, 0.1, 0.956, 0.020, 0.07, 0.03),
              3: (7.8, 0.1, 0.977, 0.003, 0.10, 0.02), 4: (7.8, 0.1, 0.959, 0.014, 0.07, 0.02)},
    "grid25": {1: (17.3, 0.8, 0.948, 0.007, 0.70, 0.07), 2: (23.8, 0.7, 0.913, 0.008, 0.13, 0.04),
               3: (24.6, 0.4, 0.942, 0.004, 0.06, 0.02), 4: (24.8, 0.2, 0.936, 0.006, 0.04, 0.01)},
}
# Lin et al. 2018, Table 2 (stacked_MNIST_experiments/results/Table2.png): modes of 1,000
# and KL, mean +- standard error over 10 trials ("DCGAN (our implementation)" for m = 1;
# VEEGAN's Table 2 reports DCGAN 99.0 modes, KL 3.40).
PAPER_TABLE2 = {1: (78.9, 6.46, 4.50, 0.127), 2: (1000.0, 0.0, 0.06, 0.003),
                3: (1000.0, 0.0, 0.06, 0.003), 4: (1000.0, 0.0, 0.07, 0.005)}


def _label(pack: int) -> str:
    return "GAN" if pack == 1 else f"PacGAN{pack}"


def toy_config(dataset: str, pack: int, num_steps: int):
    """The gan_jax config of one Table 1 cell (the released code's settings)."""
    c = configs.base_config()
    sweep.apply_overrides(c, TOY_DATASETS[dataset])
    c.model = models.model_config("pacgan_mlp", latent_dim=2, pack=pack)
    c.loss, c.n_disc = "nonsaturating", 1
    c.batch_size = 100 * pack          # 100 packed examples for D
    c.num_steps = num_steps
    for opt in (c.optim.g, c.optim.d):
        opt.name, opt.lr, opt.b1, opt.b2 = "adam", 1e-4, 0.8, 0.999
    c.num_toy_samples = 2500
    c.progress_bar = False
    return c


def stacked_config(pack: int, num_steps: int, width: int = 64, seed: int = 0):
    """The gan_jax config of one Table 2 run (the released code's settings)."""
    c = configs.base_config()
    c.seed = seed
    c.data.name = "stacked_mnist"
    c.model = models.model_config("pacgan_dcgan", latent_dim=100, g_width=width,
                                  d_width=width, pack=pack)
    c.loss, c.n_disc = "nonsaturating", 1
    c.batch_size = 64 * pack           # 64 packed examples for D
    c.num_steps = num_steps
    for opt in (c.optim.g, c.optim.d):
        opt.name, opt.lr, opt.b1, opt.b2 = "adam", 2e-4, 0.5, 0.999
    c.eval_every, c.best_metric = 0, "none"
    c.log_every = max(1, min(50, num_steps))
    c.sample_every = c.checkpoint_every = max(1, min(100, num_steps))
    c.num_samples = 64
    c.progress_bar = False
    return c


def mean_se(values) -> dict[str, float]:
    """Mean and standard error (std with ddof 1 over sqrt(n); 0 for one value)."""
    a = np.asarray(values, np.float64)
    se = float(a.std(ddof=1) / np.sqrt(len(a))) if len(a) > 1 else 0.0
    return {"mean": float(a.mean()), "se": se, "n": int(len(a))}


def _read_json(path: str):
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def toy_cell(workdir: str, dataset: str, pack: int, steps: int, seeds, cached_only=False):
    """Trains (or reads back) one Table 1 cell for every seed: per-seed mode statistics,
    their mean and standard error, and seed 0's samples [2500, 2]."""
    from gan_jax.eval import modes

    key = f"toy_{dataset}_pack{pack}_steps{steps}_seeds{'-'.join(map(str, seeds))}"
    path = os.path.join(workdir, key + ".json")
    cached = _read_json(path)
    if cached is None:
        if cached_only:
            return None
        config = toy_config(dataset, pack, steps)
        mixture = synthetic.make_mixture(config.data)
        start, cpu = time.perf_counter(), time.process_time()
        states = toy_seeds.train_seeds(config, list(seeds))
        drawn = toy_seeds.sample_seeds(config, states, list(seeds))
        per_seed = {str(s): modes.mode_stats(x, mixture) for s, x in zip(seeds, drawn,
                                                                          strict=True)}
        cached = {"per_seed": per_seed, "wall_s": round(time.perf_counter() - start, 1),
                  "cpu_s": round(time.process_time() - cpu, 1),
                  "samples_seed0": np.asarray(drawn[0], np.float64).round(5).tolist()}
        sweep.write_json(path, cached)
    out = {m: mean_se([cached["per_seed"][str(s)][m] for s in seeds]) for m in METRICS}
    return {**out, "per_seed": cached["per_seed"], "wall_s": cached["wall_s"],
            "cpu_s": cached["cpu_s"], "samples": np.asarray(cached["samples_seed0"])}


def lenet_digits(images: np.ndarray, net) -> np.ndarray:
    """Digits [N, 3] of the three channels of images [N, 28, 28, 3] in [-1, 1]."""
    n = images.shape[0]
    channels = np.moveaxis(np.asarray(images, np.float32), -1, 1).reshape(n * 3, 28, 28, 1)
    logits, _ = net.apply(channels)
    return np.argmax(logits, axis=1).reshape(n, 3)


def stacked_run(workdir: str, pack: int, steps: int, seed: int, width: int, num_eval: int,
                net, num_examples: int | None = None, cached_only: bool = False):
    """Trains (resuming from its checkpoints) and evaluates one Table 2 run."""
    import jax

    from gan_jax import runs, sampling, train
    from gan_jax.data import stacked_mnist

    run_dir = os.path.join(workdir, f"stacked_pack{pack}_steps{steps}_w{width}_seed{seed}")
    path = os.path.join(run_dir, "pacgan_eval.json")
    cached = _read_json(path)
    if cached is not None or cached_only:
        return cached
    config = stacked_config(pack, steps, width, seed)
    if num_examples is not None:  # a small set (the quick test): same code, fewer examples
        original = stacked_mnist.NUM_EXAMPLES
        stacked_mnist.NUM_EXAMPLES = num_examples
    try:
        start, cpu = time.perf_counter(), time.process_time()
        state = train.train_and_evaluate(config, run_dir)
        train_wall, train_cpu = time.perf_counter() - start, time.process_time() - cpu
        _, gan = runs.build(config, axis_name=None)
    finally:
        if num_examples is not None:
            stacked_mnist.NUM_EXAMPLES = original
    state = jax.device_get(state)
    z = sampling.fixed_latents(seed, sampling.EVALUATION, (num_eval, 100))
    images = sampling.Generator(gan, batch=min(1000, num_eval))(state, z)
    digits = lenet_digits(images, net)
    stats = stacked_mnist.mode_stats(digits)
    result = {**stats, "train_wall_s": round(train_wall, 1), "train_cpu_s": round(train_cpu, 1),
              "samples": np.asarray(images[:64]).round(3).tolist()}
    sweep.write_json(path, result)
    return result


def stacked_step_cost(workdir: str, pack: int, timed_steps: int = 2, cached_only=False):
    """CPU seconds (all threads) and wall seconds per train step of the full-width Stacked
    MNIST DCGAN with packing ``pack``, after one untimed step (the compile); cached."""
    import jax

    from gan_jax import runs, state as state_lib, steps

    path = os.path.join(workdir, f"stacked_cost_pack{pack}.json")
    cached = _read_json(path)
    if cached is not None or cached_only:
        return cached
    config = stacked_config(pack, 1 + timed_steps)
    source, gan = runs.build(config)
    mesh = steps.make_mesh()
    state = jax.device_put(state_lib.init_state(gan, 0), steps.replicated(mesh))
    step = steps.parallelize(gan, mesh, config.batch_size)
    batches = source.batches(mesh, global_batch=config.batch_size, n_disc=1, seed=0)
    state, _ = step(state, next(batches))
    jax.block_until_ready(state)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(timed_steps):
        state, _ = step(state, next(batches))
    jax.block_until_ready(state)
    cost = {"cpu_s_per_step": round((time.process_time() - cpu) / timed_steps, 2),
            "wall_s_per_step": round((time.perf_counter() - start) / timed_steps, 2),
            "timed_steps": timed_steps}
    sweep.write_json(path, cost)
    return cost


def _grid(images, side: int = 6) -> np.ndarray:
    """side x side images [N, 28, 28, 3] in [-1, 1] as one [28 side, 28 side, 3] picture."""
    x = np.asarray(images[:side * side], np.float64)
    x = x.reshape(side, side, 28, 28, 3).transpose(0, 2, 1, 3, 4)
    return np.clip((x.reshape(28 * side, 28 * side, 3) + 1.0) / 2.0, 0.0, 1.0)


def _draw(path: str, toys: dict, stacked: dict, real_images, packs, datasets, toy_steps: int,
          stacked_steps: int) -> None:
    """A row per toy dataset (a scatter panel per pack), then real Stacked MNIST examples
    and the samples of the finished Stacked MNIST runs."""
    cols = max(len(packs), 2)
    fig = Figure(figsize=(3.0 * cols, 3.2 * (len(datasets) + 1)), dpi=90)
    # Toy rows hold a panel per pack; the last row the real images and a panel per run.
    rows = fig.add_gridspec(len(datasets) + 1, 1)
    for r, dataset in enumerate(datasets):
        row = rows[r].subgridspec(1, cols).subplots(squeeze=False)[0]
        mixture = synthetic.make_mixture(toy_config(dataset, 1, 1).data)
        lo, hi = plotting._limits(mixture)
        density = plotting._density_image(mixture, lo, hi, res=200)
        for col, ax in enumerate(row):
            cell = toys.get((dataset, packs[col])) if col < len(packs) else None
            if cell is None:
                ax.set_axis_off()
                continue
            plotting._draw_toy(ax, cell["samples"], mixture, lo, hi, density, legend=False)
            seed0 = cell["per_seed"][min(cell["per_seed"], key=int)]
            ax.set_title(f"{_label(packs[col])}, {dataset}: {seed0['modes_captured']:.0f} "
                         f"modes, {100 * seed0['high_quality']:.0f}% HQ", fontsize="small")
            ax.tick_params(labelsize="x-small")
    last = rows[-1].subgridspec(1, len(packs) + 1).subplots(squeeze=False)[0]
    for ax in last:
        ax.set_axis_off()
    last[0].imshow(_grid(real_images), interpolation="nearest")
    last[0].set_title("real Stacked MNIST", fontsize="small")
    finished = [(p, r) for p, r in stacked.items() if r is not None]
    for ax, (pack, result) in zip(last[1:], finished, strict=False):
        ax.imshow(_grid(result["samples"]), interpolation="nearest")
        ax.set_title(f"{_label(pack).replace('GAN', 'DCGAN')}, {stacked_steps:,} steps:\n"
                     f"{result['modes']:.0f} modes", fontsize="small")
    fig.suptitle(f"PacGAN protocol, seed 0: toys after {toy_steps:,} G steps\n(2,500 samples "
                 "over the data density)", fontsize="medium")
    fig.tight_layout()
    fig.savefig(path)


def run(out_dir: str, quick: bool = False, cached_only: bool = False,
        toys_only: bool = False, workdir: str | None = None) -> dict:
    """Every Table 1 cell and Table 2 run (cached under ``workdir``); the record and
    ``pacgan.png``. ``cached_only`` builds the record from the finished cells alone;
    ``toys_only`` trains the missing toy cells and reads only finished Stacked MNIST runs."""
    from gan_jax.eval import feature_net
    from gan_jax.eval.real_data import load_split

    os.makedirs(out_dir, exist_ok=True)
    if workdir is None:
        workdir = os.path.join(out_dir, "pacgan_cache") if quick else WORKDIR
    os.makedirs(workdir, exist_ok=True)
    q = QUICK if quick else {}
    packs = list(q.get("packs", PACKS))
    datasets = list(q.get("toy_datasets", TOY_DATASETS))
    toy_steps, toy_seeds_ = q.get("toy_steps", TOY_STEPS), list(q.get("toy_seeds", TOY_SEEDS))
    st_steps = q.get("stacked_steps", STACKED_STEPS)
    st_seeds = list(q.get("stacked_seeds", STACKED_SEEDS))
    st_eval = q.get("stacked_eval", STACKED_EVAL_SAMPLES)
    width = q.get("stacked_width", 64)
    call_start, in_cells = time.perf_counter(), 0.0

    toys = {}
    for pack in packs:  # GAN and PacGAN2 on both mixtures first
        for dataset in datasets:
            start = time.perf_counter()
            toys[(dataset, pack)] = toy_cell(workdir, dataset, pack, toy_steps, toy_seeds_,
                                             cached_only)
            in_cells += time.perf_counter() - start

    net = feature_net.load("mnist")
    test_images, test_labels = load_split("mnist", None, "test")
    lenet_accuracy = feature_net.accuracy(net, test_images, test_labels)
    stacked_runs = {}
    for pack in packs:
        for seed in st_seeds:
            start = time.perf_counter()
            stacked_runs[(pack, seed)] = stacked_run(
                workdir, pack, st_steps, seed, width, st_eval, net,
                q.get("stacked_examples"), cached_only or toys_only)
            in_cells += time.perf_counter() - start

    # The protocol's ceiling: real Stacked MNIST examples through the same counting.
    from gan_jax.data import stacked_mnist

    real_set = stacked_mnist.StackedMnistSource(
        configs.base_config().data, q.get("stacked_examples", stacked_mnist.NUM_EXAMPLES))
    n_real = min(st_eval, len(real_set.images))
    real_digits = lenet_digits(real_set.images[:n_real] / 127.5 - 1.0, net)
    real_stats = {**stacked_mnist.mode_stats(real_digits), "samples": n_real,
                  "triples_read_correctly": float(np.mean(
                      stacked_mnist.modes_of_digits(real_digits) == real_set.modes[:n_real]))}
    costs = {_label(p): stacked_step_cost(workdir, p, cached_only=True) for p in packs}

    table1 = {}
    for dataset in datasets:
        table1[dataset] = {}
        for pack in packs:
            cell = toys[(dataset, pack)]
            paper = PAPER_TABLE1[dataset][pack]
            table1[dataset][_label(pack)] = {
                "ours": None if cell is None else {
                    **{m: cell[m] for m in METRICS}, "per_seed": cell["per_seed"],
                    "wall_s_all_seeds": cell["wall_s"], "cpu_s_all_seeds": cell["cpu_s"],
                    # compile included, so an upper bound; the code's 400,000 steps at it:
                    "cpu_hours_per_trial_of_the_code_schedule": round(
                        cell["cpu_s"] / (toy_steps * len(toy_seeds_))
                        * PAPER_SCHEDULE["toy_steps"] / 3600, 1)},
                "paper": {"modes_captured": {"mean": paper[0], "se": paper[1]},
                          "high_quality": {"mean": paper[2], "se": paper[3]},
                          "reverse_kl": {"mean": paper[4], "se": paper[5]}}}
    table2 = {}
    for pack in packs:
        done = [stacked_runs[(pack, s)] for s in st_seeds if stacked_runs[(pack, s)] is not None]
        paper = PAPER_TABLE2[pack]
        table2[_label(pack).replace("GAN", "DCGAN")] = {
            "ours": None if not done else {
                "modes": mean_se([r["modes"] for r in done]),
                "kl": mean_se([r["kl"] for r in done]),
                "per_seed": {str(s): {k: stacked_runs[(pack, s)][k] for k in
                                      ("modes", "kl", "train_wall_s", "train_cpu_s")}
                             for s in st_seeds if stacked_runs[(pack, s)] is not None}},
            "paper": {"modes": {"mean": paper[0], "se": paper[1]},
                      "kl": {"mean": paper[2], "se": paper[3]}}}
    _draw(os.path.join(out_dir, "pacgan.png"), toys,
          {p: stacked_runs[(p, st_seeds[0])] for p in packs},
          real_set.images[:36] / 127.5 - 1.0, packs, datasets, toy_steps, st_steps)

    missing = ([f"toy {d} {_label(p)}" for (d, p), c in toys.items() if c is None]
               + [f"stacked MNIST {_label(p)} seed {s}" for (p, s), r in stacked_runs.items()
                  if r is None])
    finite = all(np.isfinite(c[m]["mean"]) for c in toys.values() if c is not None
                 for m in METRICS)
    checks = {
        "every finished toy cell is finite": finite,
        "gan_jax's MNIST LeNet classifies the MNIST test split with accuracy >= 0.98":
            lenet_accuracy >= 0.98,
        "real Stacked MNIST through the counting reads >= 95% of digit triples correctly":
            real_stats["triples_read_correctly"] >= 0.95,
    }
    if not quick:
        checks["26,000 real Stacked MNIST examples hit >= 990 of the 1,000 modes"] = (
            real_stats["modes"] >= 990)
    cpu_s = (sum(c["cpu_s"] for c in toys.values() if c is not None)
             + sum(r["train_cpu_s"] for r in stacked_runs.values() if r is not None))

    def toy_cell_text(d, p):
        c = toys[(d, p)]
        return "not run" if c is None else (
            f"{c['modes_captured']['mean']:.1f}+-{c['modes_captured']['se']:.1f}")

    def stacked_text(p):
        o = table2[_label(p).replace("GAN", "DCGAN")]["ours"]
        return "not run" if o is None else f"{o['modes']['mean']:.0f}"

    stacked_done = any(r is not None for r in stacked_runs.values())
    ours = ("modes, mean+-se: " + "; ".join(
        f"{d} " + ", ".join(f"{_label(p)} {toy_cell_text(d, p)}" for p in packs)
        for d in datasets) + f" ({toy_steps:,} steps, {len(toy_seeds_)} seeds); Stacked MNIST: "
        + (", ".join(f"{_label(p).replace('GAN', 'DCGAN')} {stacked_text(p)}" for p in packs)
           + f" of 1000 ({st_steps:,} steps); " if stacked_done else "DCGAN runs not trained; ")
        + f"real data {real_stats['modes']:.0f} modes, KL {real_stats['kl']:.3f}")
    # The cells may have trained in earlier calls: the run time is their recorded training
    # wall times plus this call's own work other than training them.
    wall_s = (sum(c["wall_s"] for c in toys.values() if c is not None)
              + sum(r["train_wall_s"] for r in stacked_runs.values() if r is not None))
    return {
        "runtime_s": round(wall_s + time.perf_counter() - call_start - in_cells, 1),
        "title": "Lin et al. 2018 (PacGAN), Tables 1 and 2: packing on ring-8, grid-25 and "
                 "Stacked MNIST (the released code's protocol, short schedules)",
        "paper": "modes: ring GAN 6.3, PacGAN2-4 7.8-7.9 of 8; grid GAN 17.3, PacGAN2-4 "
                 "23.8-24.8 of 25; Stacked MNIST DCGAN 78.9, PacDCGAN2-4 1000 of 1000",
        "ours": ours,
        "numbers": {
            "table1": table1,
            "table2": table2,
            "lenet": {"id": net.id, "mnist_test_accuracy": round(lenet_accuracy, 5),
                      "test_examples": int(len(test_labels))},
            "stacked_real_data": real_stats,
            "stacked_step_cost": {
                k: None if v is None else {
                    **v, "hours_for_the_code_schedule": round(
                        v["cpu_s_per_step"] * PAPER_SCHEDULE["stacked_d_steps"] / 3600, 1)}
                for k, v in costs.items()},
            "missing_cells": missing,
            "cpu_seconds_of_finished_cells": round(cpu_s, 1),
            "sources": {
                "table1": "Lin et al. 2018, Table 1 (github.com/fjxmlzn/PacGAN "
                          "synthetic_data_experiments/results/Table1.png), 10 trials, +- se",
                "table2": "Lin et al. 2018, Table 2 (stacked_MNIST_experiments/results/"
                          "Table2.png), 10 trials, +- se",
                "protocol": "fjxmlzn/PacGAN synthetic_data_experiments/2DRing_GAN&PacGAN and "
                            "2DGrid_GAN&PacGAN config.py / pacgan_task.py; "
                            "stacked_MNIST_experiments/VEEGAN_experiment config.py / model.py"},
            "settings": {
                "packs": packs, "toy_steps": toy_steps, "toy_seeds": toy_seeds_,
                "toy_datasets": {d: TOY_DATASETS[d] for d in datasets},
                "toy_batch": "100 packed examples (100 m samples)",
                "stacked_steps": st_steps, "stacked_seeds": st_seeds,
                "stacked_eval_samples": st_eval, "stacked_width": width,
                "stacked_batch": "64 packed examples (64 m images)",
                "paper_schedule": PAPER_SCHEDULE,
                "high_quality_std": 3.0, "min_count": 1},
        },
        "checks": checks,
        "tolerances": {"lenet_accuracy": ">= 0.98", "real_triples_read": ">= 0.95",
                       "real_modes": ">= 990 of 1000"},
    }


if __name__ == "__main__":
    _flags = {flag: flag in sys.argv for flag in ("--cached-only", "--toys-only")}
    sys.argv = [a for a in sys.argv if a not in _flags]
    _run = run

    def run(out_dir: str, quick: bool = False) -> dict:  # noqa: F811
        return _run(out_dir, quick, cached_only=_flags["--cached-only"],
                    toys_only=_flags["--toys-only"])

    run.__module__ = __name__
    common.main(run, __doc__)
