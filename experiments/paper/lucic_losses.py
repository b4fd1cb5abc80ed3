"""Lucic et al. 2018, "Are GANs Created Equal?": the loss ablation on MNIST at CPU scale.

    gan-jax data prepare mnist --data_dir D
    python -m experiments.paper.lucic_losses --data_dir D [--workdir W] [--out DIR] [--inception]
    python -m experiments.paper.lucic_losses --inception_only   # add Inception FID to the record

The InfoGAN-style DCGAN of the paper (``experiments/configs/mnist_dcgan.py``: batch 64,
Adam(2e-4, b1 = 0.5) for both networks) trained with each loss of the paper's comparison,
3 seeds each, on a shortened schedule, every run scored by FD-LeNet
(``gan_jax.eval.image_eval.ImageEvaluator``, the Frechet distance on the features of a
LeNet trained on MNIST) against the MNIST test split:

- MM: ``minimax``; NS: ``nonsaturating``;
- LSGAN: ``lsgan_011``, the coding of the paper's Table 1 (D regresses real onto 1 and
  generated onto 0, G pulls its samples onto 1: a = 0, b = c = 1 in Mao et al.'s terms),
  not ``lsgan`` (a = -1, b = 1, c = 0, Mao et al.'s other recommended coding);
- WGAN: ``wasserstein`` with D's weights clipped to [-0.01, 0.01], 5 D steps per G step
  (Arjovsky et al. 2017);
- WGAN-GP: ``wasserstein`` with the gradient penalty, lambda = 10, 5 D steps per G step
  (Gulrajani et al. 2017);
- DRAGAN: ``nonsaturating`` with the DRAGAN penalty, lambda = 10 (Kodali et al. 2017).

BEGAN (an auto-encoder discriminator) is not in gan_jax and is left out. The paper
reports, per loss, the best FID of a large hyperparameter search over full-length runs;
here every loss gets one setting (the config's) and the variation is over seeds only, so
the comparison is of early training under equal G steps. The ranking is by the mean
over seeds of the FD-LeNet of the final generator; the best over the evaluated
checkpoints is reported beside it. Absolute values are not comparable with the
paper's FID (Inception features there, LeNet features here; far shorter runs). The
schedule, ``FULL["num_steps"]`` = 1,000 G steps (64,000 images, about 1.1 epochs of
MNIST's 60,000 training images), is the shortest at which this model draws digits (the
default config's FD-LeNet falls from about 400 at step 500 to about 30 at step 1,000), so
the ranking is of early training, not of converged quality.

Inception FID (``--inception``, or ``--inception_only`` to add it to the committed record
without rescoring anything else): the final generator of each loss's best seed (lowest final
FD-LeNet) scored on the paper's protocol, 10,000 generated images against the 10,000 MNIST
test images (``image_eval.PROTOCOLS["fid10k_test"]``), with the FID Inception-v3
(``gan-jax features prepare inception``; TF1 bilinear resize of the grey digits to 299x299,
channels replicated). These absolute numbers stand beside the paper's, with the caveats of
the short schedule and the single setting. The generated features are saved per run in
``fid_inception.npz`` every 1,000 images, so an interrupted scoring resumes; ``--inception_only``
trains a best seed's run first if its workdir does not hold it. The record keeps, beside each
Inception FID, the final FD-LeNet of the run it scored and the record's for that seed: the
committed Inception FIDs are of runs trained again on a later machine (the recorded workdirs
were gone), whose final FD-LeNet differs from the record's (scored against recorded: WGAN
32.4 / 26.3, NS 37.6 / 34.2, MM 38.8 / 37.6, LSGAN 301 / 327, DRAGAN 581 / 380, WGAN-GP
1,137 / 759): training is not bit-identical across XLA builds and CPUs, and the unstable
losses drift furthest. Scoring took about 15 min per loss (10,000 images at 11-12 images/s).

Runs train through ``gan_jax.sweep``, every loss of one seed (cheapest first) before the
next seed, one workdir per loss and seed under ``--workdir`` (default
``workdirs/paper/lucic_losses``; about 140 MB per checkpoint, 5 kept per run). Rerunning
the command skips finished runs, resumes unfinished ones and reuses the FD scores already
computed (``fd_lenet.json`` beside each run). ``--finished_only`` trains nothing and
writes the record of the runs finished so far, saying how many of the planned runs it
holds. ``--data_dir`` is the TFDS data dir holding ``mnist`` (default: the config's,
``~/tensorflow_datasets``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np

from experiments.paper import common

NAME = "lucic_losses"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "experiments", "configs", "mnist_dcgan.py")

# (the paper's name, gan_jax overrides, the paper's best FID on MNIST).
LOSSES: list[tuple[str, dict[str, Any], float]] = [
    ("MM", {"loss": "minimax"}, 9.8),
    ("NS", {"loss": "nonsaturating"}, 6.8),
    ("LSGAN", {"loss": "lsgan_011"}, 7.8),
    ("WGAN", {"loss": "wasserstein", "clip_weights": 0.01, "n_disc": 5}, 6.7),
    ("WGAN-GP", {"loss": "wasserstein", "penalty": "gp", "penalty_weight": 10.0,
                 "n_disc": 5}, 20.3),
    ("DRAGAN", {"loss": "nonsaturating", "penalty": "dragan", "penalty_weight": 10.0}, 7.6),
]
PAPER_EXCLUDED = {"BEGAN": 13.1}

FULL = dict(losses=[name for name, _, _ in LOSSES], seeds=[0, 1, 2], num_steps=1000,
            evaluations=4, fd_samples=5000, dataset="mnist", split="test")
QUICK = dict(losses=["NS", "LSGAN"], seeds=[0], num_steps=5, evaluations=1,
             fd_samples=256, dataset="mnist5k", split="train")
FD_FILE = "fd_lenet.json"
# Inception FID of each loss's best seed: the paper's protocol, and the quick test's.
INCEPTION = dict(samples=10_000, real=10_000, split="test")
INCEPTION_QUICK = dict(samples=32, real=32, split="train")
INCEPTION_FILE = "fid_inception.npz"
INCEPTION_CHUNK = 1000
_Z_KEY = 0x1FD  # one fixed latent batch scores every generator (common random numbers)


def ranks(values) -> np.ndarray:
    """Ranks 1..n of ``values`` (smallest first), ties sharing the mean of their ranks."""
    values = np.asarray(values, np.float64)
    order = np.argsort(values, kind="stable")
    out = np.empty(len(values), np.float64)
    out[order] = np.arange(1, len(values) + 1)
    for v in np.unique(values):
        tied = values == v
        out[tied] = out[tied].mean()
    return out


def spearman(a, b) -> float:
    """Spearman's rank correlation: Pearson's correlation of the (tie-averaged) ranks."""
    ra, rb = ranks(a), ranks(b)
    if len(ra) != len(rb) or len(ra) < 2:
        raise ValueError(f"spearman needs two sequences of equal length >= 2, got "
                         f"{len(ra)} and {len(rb)}")
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float(ra @ rb / np.sqrt((ra @ ra) * (rb @ rb)))


def sweep_definition(settings: dict[str, Any], data_dir: str | None) -> dict[str, Any]:
    """The gan_jax.sweep of this ablation: the losses x the seeds on the DCGAN config."""
    every = max(1, settings["num_steps"] // settings["evaluations"])
    common_overrides = {
        "data.name": settings["dataset"], "num_steps": settings["num_steps"],
        "checkpoint_every": every, "max_checkpoints": settings["evaluations"] + 1,
        "log_every": min(100, every), "sample_every": settings["num_steps"],
        # Scoring reads the checkpoints afterwards (against the test split, one latent
        # batch for every run), so the runs skip the config's own periodic evaluation.
        "eval_every": 0, "best_metric": "none", "progress_bar": False}
    if data_dir is not None:
        common_overrides["data.data_dir"] = data_dir
    chosen = [(name, overrides) for name, overrides, _ in LOSSES
              if name in settings["losses"]]
    return {"config": CONFIG, "overrides": common_overrides, "variants": chosen,
            "seeds": settings["seeds"]}


def _finished(run: dict[str, Any]) -> bool:
    """Whether the run has its result.json (the sweep writes it only at the final step)."""
    from gan_jax import sweep

    return os.path.exists(os.path.join(run["workdir"], sweep.RESULT_FILE))


def _cost(overrides: dict[str, Any]) -> float:
    """Relative cost of one G step: D steps per G step, a gradient penalty about 1.5x."""
    return overrides.get("n_disc", 1) * (1.5 if overrides.get("penalty") else 1.0)


def train_all(definition: dict[str, Any], workdir: str) -> None:
    """Trains every unfinished run, seed by seed and, within a seed, the cheapest losses
    first, so that an interrupted sweep holds as many losses as it can; raises if a run
    failed. A run stopped by SIGTERM or SIGINT stops the rest (``SweepStopped``)."""
    from gan_jax import sweep

    by_cost = sorted(definition["variants"], key=lambda v: _cost(v[1]))
    for seed in definition["seeds"]:
        sweep.run_sweep({**definition, "variants": by_cost, "seeds": [seed]}, workdir)
    runs = sweep.plan(definition, workdir)
    failed = [r["workdir"] for r in runs if not _finished(r)]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(runs)} runs did not finish (see log.txt "
                           f"in {', '.join(failed)}); rerun the command to retry them")


def run_config(overrides: dict[str, Any]):
    """The config of one run of the sweep: the DCGAN config with the run's overrides."""
    from gan_jax import runs, sweep

    config = runs.load_config(CONFIG)
    sweep.apply_overrides(config, overrides)
    return config


class Scorer:
    """Scores a run's generator by FD-LeNet at step 0 (untrained G) and at every checkpoint.

    Every generator is scored on the same ``num_samples`` latent vectors; the scores of
    a run are cached in ``<run>/fd_lenet.json``, tagged with the evaluator's reference.
    """

    def __init__(self, evaluator, num_samples: int):
        self.evaluator, self.num_samples = evaluator, num_samples

    def images(self, gan, state, n: int | None = None) -> np.ndarray:
        """``n`` (default num_samples) samples [n, 28, 28, 1] in [-1, 1] of ``state``'s G."""
        import jax

        from gan_jax import sampling

        n = self.num_samples if n is None else n
        z = jax.random.normal(jax.random.PRNGKey(_Z_KEY), (n, gan.latent_dim))
        return sampling.Generator(gan)(state, z)

    def score_run(self, run: dict[str, Any], grid: int = 0) -> dict[str, Any]:
        """{"steps", "fd", "final", "best", "grid": ``grid`` final samples} of one run."""
        from gan_jax import checkpointing, runs, state as state_lib, sweep

        path = os.path.join(run["workdir"], FD_FILE)
        tag = {"reference_key": str(self.evaluator.reference_key),
               "num_samples": self.num_samples, "latent_key": _Z_KEY}
        scores: dict[str, float] = {}
        if os.path.exists(path):
            with open(path) as f:
                cached = json.load(f)
            if cached.get("tag") == tag:
                scores = cached["fd_lenet"]
        config = run_config(run["overrides"])
        _, gan = runs.build(config, axis_name=None)
        template = state_lib.init_state(gan, config.seed)
        ckpt = checkpointing.Checkpointer(os.path.join(run["workdir"], "checkpoints"),
                                          config.max_checkpoints)
        try:
            saved = sorted(ckpt.all_steps())
            if not saved or saved[-1] != config.num_steps:
                raise RuntimeError(f"the run in {run['workdir']} has no checkpoint of its "
                                   f"final step {config.num_steps}; rerun the command to "
                                   "finish it")
            # A run stopped by a signal and resumed keeps the checkpoint of the step it
            # stopped at; only the scheduled checkpoints are scored.
            every = config.checkpoint_every
            saved = [s for s in saved if s % every == 0 or s == config.num_steps]
            states = {}
            for step in [0, *saved]:
                if str(step) not in scores or (grid and step == saved[-1]):
                    states[step] = template if step == 0 else ckpt.restore(step, template)[0]
                if str(step) not in scores:
                    scores[str(step)] = float(self.evaluator(
                        self.images(gan, states[step]))["fd_lenet"])
        finally:
            ckpt.close()
        scores = {str(k): scores[str(k)] for k in [0, *saved]}
        sweep.write_json(path, {"tag": tag, "fd_lenet": scores})
        return {"steps": [int(s) for s in scores], "fd": list(scores.values()),
                "final": scores[str(saved[-1])], "best": min(scores.values()),
                "grid": self.images(gan, states[saved[-1]], grid) if grid else None}


def summarise(per_loss: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Mean/std over seeds, rankings and their Spearman correlations with the paper."""
    paper = {name: fid for name, _, fid in LOSSES}
    names = list(per_loss)
    table = {}
    for name in names:
        final = np.asarray([r["final"] for r in per_loss[name]])
        best = np.asarray([r["best"] for r in per_loss[name]])
        table[name] = {
            "fd_final": final.tolist(), "fd_best_over_training": best.tolist(),
            "fd_untrained": [r["fd"][0] for r in per_loss[name]],
            "fd_final_mean": float(final.mean()),
            "fd_final_std": float(final.std(ddof=1)) if len(final) > 1 else 0.0,
            "fd_final_min_over_seeds": float(final.min()),
            "fd_best_mean": float(best.mean()),
            "paper_best_fid": paper[name]}
    out: dict[str, Any] = {"per_loss": table}
    for key, label in (("fd_final_mean", "final"), ("fd_final_min_over_seeds", "min_seed"),
                       ("fd_best_mean", "best_over_training")):
        ours = [table[n][key] for n in names]
        out[f"ranking_{label}"] = [names[i] for i in np.argsort(ours, kind="stable")]
        if len(names) >= 2:
            out[f"spearman_{label}"] = spearman(ours, [paper[n] for n in names])
    out["ranking_paper"] = sorted(names, key=paper.get)
    return out


def plot(per_loss, summary, grids, path: str) -> None:
    """FD over training per loss; final FD per loss against the paper; a sample row per loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(per_loss)
    fig = plt.figure(figsize=(14, 4.6))
    ax1, ax2 = fig.add_subplot(1, 3, 1), fig.add_subplot(1, 3, 2)
    colors = plt.get_cmap("tab10")
    for i, name in enumerate(names):
        # Steps scored in every seed (an evicted checkpoint would leave a gap in one).
        steps = sorted(set.intersection(*(set(r["steps"]) for r in per_loss[name])))
        by_step = [dict(zip(r["steps"], r["fd"], strict=True)) for r in per_loss[name]]
        fd = np.asarray([[seed[s] for s in steps] for seed in by_step])
        ax1.plot(steps, fd.mean(0), "o-", color=colors(i), label=name, markersize=3)
        ax1.fill_between(steps, fd.min(0), fd.max(0), color=colors(i), alpha=0.15)
    ax1.set(xlabel="G steps", ylabel="FD-LeNet (lower is better)", yscale="log",
            title="FD over training (mean; band: seeds' range)")
    ax1.legend(fontsize=8)
    table = summary["per_loss"]
    x = np.asarray([table[n]["paper_best_fid"] for n in names])
    y = np.asarray([table[n]["fd_final_mean"] for n in names])
    err = np.asarray([table[n]["fd_final_std"] for n in names])
    ax2.errorbar(x, y, yerr=err, fmt="o", color="k", capsize=3)
    for i, name in enumerate(names):
        ax2.annotate(name, (x[i], y[i]), textcoords="offset points", xytext=(5, 4),
                     fontsize=8, color=colors(i))
        ax2.plot(np.full(len(table[name]["fd_final"]), x[i]), table[name]["fd_final"], ".",
                 color=colors(i), markersize=4)
    rho = summary.get("spearman_final", float("nan"))
    ax2.set(xlabel="paper: best FID on MNIST (Lucic et al. 2018)",
            ylabel="ours: final FD-LeNet (mean ± std over seeds)",
            title=f"ours against the paper (Spearman {rho:.2f})")
    ax3 = fig.add_subplot(1, 3, 3)
    # Two rows of eight samples per loss, a white line between losses.
    blocks = []
    for n in names:
        tiles = grids[n][:16, :, :, 0]
        rows = [np.concatenate(list(tiles[i:i + 8]), axis=1) for i in (0, 8)]
        blocks += [*rows, np.ones((2, rows[0].shape[1]))]
    ax3.imshow(np.concatenate(blocks, axis=0), cmap="gray", vmin=-1, vmax=1)
    height = 2 * grids[names[0]].shape[1] + 2
    ax3.set_yticks([height * (i + 0.5) for i in range(len(names))], names)
    ax3.set_xticks([])
    ax3.set_title("final samples (first seed)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def _run_seconds(run: dict[str, Any]) -> float:
    """A finished run's time: the larger of two measures that can each fall short.

    One is the wall time in its result.json, which counts every call that trained the run
    (only the last call for runs finished before ``run_seconds.json`` kept the earlier ones);
    the other is the training time its metrics.jsonl logs (each logged interval's steps over
    its ``steps_per_sec``, every call, compilation and evaluation excluded).
    """
    from gan_jax import sweep

    with open(os.path.join(run["workdir"], sweep.RESULT_FILE)) as f:
        wall = float(json.load(f)["run_seconds"])
    logged, previous = 0.0, 0
    with open(os.path.join(run["workdir"], "metrics.jsonl")) as f:
        for row in map(json.loads, filter(str.strip, f)):
            if "steps_per_sec" in row:
                logged += (row["step"] - previous) / row["steps_per_sec"]
            previous = row["step"]
    return round(max(wall, logged), 1)


def best_seeds(per_loss: dict[str, Any], seeds: list[int]) -> dict[str, int]:
    """Each loss's seed with the lowest final FD-LeNet (``per_loss``: the record's table)."""
    return {name: seeds[int(np.argmin(t["fd_final"]))] for name, t in per_loss.items()}


def inception_scores(run: dict[str, Any], evaluator, num_samples: int, log=print
                     ) -> dict[str, Any]:
    """Inception metrics of ``num_samples`` images of the run's final generator.

    The images come from one fixed latent batch (``_Z_KEY``, as FD-LeNet's); their features
    are saved in ``<run>/fid_inception.npz`` every ``INCEPTION_CHUNK`` images, tagged with
    the evaluator's reference key, the count and the step, so a rerun resumes or reuses them.
    """
    from gan_jax import checkpointing, runs, state as state_lib

    config = run_config(run["overrides"])
    _, gan = runs.build(config, axis_name=None)
    ckpt = checkpointing.Checkpointer(os.path.join(run["workdir"], "checkpoints"),
                                      config.max_checkpoints)
    try:
        step = config.num_steps
        if step not in ckpt.all_steps():
            raise RuntimeError(f"the run in {run['workdir']} has no checkpoint of its final "
                               f"step {step}; rerun the command to finish it")
        state = ckpt.restore(step, state_lib.init_state(gan, config.seed))[0]
    finally:
        ckpt.close()
    tag = f"{evaluator.reference_key}|n{num_samples}|step{step}|z{_Z_KEY}"
    path = os.path.join(run["workdir"], INCEPTION_FILE)
    done = np.zeros((0, 2048), np.float32)
    if os.path.exists(path):
        with np.load(path) as saved:
            if str(saved["tag"]) == tag:
                done = np.asarray(saved["features"], np.float32)
    start = time.perf_counter()
    if done.shape[0] < num_samples:
        images = Scorer(evaluator, num_samples).images(gan, state)
        log(f"Inception features of {run['variant']} seed {run['seed']}: "
            f"{done.shape[0]} of {num_samples} done")
        while done.shape[0] < num_samples:
            chunk = images[done.shape[0]:done.shape[0] + INCEPTION_CHUNK]
            done = np.concatenate([done, evaluator.features(chunk)[1]])
            tmp = path + ".tmp.npz"
            np.savez(tmp, tag=np.asarray(tag), features=done)
            os.replace(tmp, path)
    scores = evaluator.score_features(None, done)
    return {"seed": run["seed"], "step": step, **scores,
            "seconds_this_call": round(time.perf_counter() - start, 1)}


def add_inception(record: dict[str, Any], quick: bool, data_dir: str | None,
                  workdir: str, finished_only: bool = False, log=print,
                  inception_dir=None) -> dict[str, Any]:
    """``record`` with ``numbers.inception``: the Inception FID of each loss's best seed.

    Best seeds come from the record's FD-LeNet table; a best seed's run missing from
    ``workdir`` is trained first (unless ``finished_only``). ``inception_dir``: prepared
    weights elsewhere than beside the data.
    """
    from gan_jax import sweep
    from gan_jax.eval.image_eval import ImageEvaluator

    settings = QUICK if quick else FULL
    protocol = INCEPTION_QUICK if quick else INCEPTION
    numbers = record["numbers"]
    best = best_seeds(numbers["per_loss"], numbers["settings"]["seeds"])
    definition = sweep_definition(settings, data_dir)
    runs = {(r["variant"], r["seed"]): r for r in sweep.plan(definition, workdir)}
    data_config = run_config(next(iter(runs.values()))["overrides"]).data
    evaluator = ImageEvaluator(data_config, protocol["real"], split=protocol["split"],
                               features="inception", inception_dir=inception_dir, log=log)
    # The scored run's own final FD-LeNet, beside the record's for that seed: equal when the
    # scored workdir is the recorded run, different when it was trained again (training is
    # not bit-identical across XLA builds and CPUs).
    scorer = Scorer(ImageEvaluator(data_config, settings["fd_samples"],
                                   split=settings["split"]), settings["fd_samples"])
    seeds = numbers["settings"]["seeds"]
    table, missing = {}, []
    for name, seed in best.items():
        run = runs[(name, seed)]
        if not _finished(run) and not finished_only:
            variant = [(n, o) for n, o in definition["variants"] if n == name]
            sweep.run_sweep({**definition, "variants": variant, "seeds": [seed]}, workdir)
        if not _finished(run):
            missing.append(f"{name} seed {seed}")
            continue
        table[name] = {**inception_scores(run, evaluator, protocol["samples"], log),
                       "fd_lenet_final": scorer.score_run(run)["final"],
                       "fd_lenet_final_in_record":
                           numbers["per_loss"][name]["fd_final"][seeds.index(seed)]}
    paper = {name: fid for name, _, fid in LOSSES}
    names = list(table)
    out = {"protocol": (f"{protocol['samples']:,} generated images of the final generator of "
                        f"each loss's best seed (lowest final FD-LeNet) against "
                        f"{protocol['real']:,} images of {data_config.name}:{protocol['split']}"),
           "reference_key": evaluator.reference_key, "per_loss": table,
           "scored_runs": ("the workdirs under " + (os.path.relpath(workdir, ROOT)
                                                    if os.path.abspath(workdir).startswith(ROOT)
                                                    else workdir)
                           + "; fd_lenet_final is the scored run's, fd_lenet_final_in_record "
                             "the record's run of that loss and seed"),
           "losses_missing": missing,
           "ranking": sorted(names, key=lambda n: table[n]["fid"])}
    if len(names) >= 2:
        out["spearman_with_paper"] = spearman([table[n]["fid"] for n in names],
                                              [paper[n] for n in names])
    numbers["inception"] = out
    text = ", ".join(f"{n} {_fmt(table[n]['fid'])}" for n in out["ranking"])
    partial = f" ({len(missing)} losses missing)" if missing else ""
    rho = out.get("spearman_with_paper", float("nan"))
    ours = record["ours"].split("; Inception FID")[0]
    record["ours"] = (f"{ours}; Inception FID of the best seed, {protocol['samples']:,} vs "
                      f"{protocol['real']:,} {protocol['split']}: {text}{partial} "
                      f"(Spearman {rho:.2f})")
    return record


def run(out_dir: str, quick: bool = False, data_dir: str | None = None,
        workdir: str | None = None, finished_only: bool = False,
        inception: bool = False) -> dict[str, Any]:
    """Trains (or resumes) every run, scores it and returns the record; writes the PNG.

    ``finished_only``: train nothing; score the runs that have finished and say in the
    record how many of the planned runs it holds (for an interrupted sweep).
    ``inception``: also score each loss's best seed by Inception FID (``add_inception``).
    """
    from gan_jax import sweep
    from gan_jax.eval.image_eval import ImageEvaluator

    call_start = time.perf_counter()
    settings = QUICK if quick else FULL
    workdir = workdir or os.path.join(ROOT, "workdirs", "paper",
                                      NAME + ("_quick" if quick else ""))
    definition = sweep_definition(settings, data_dir)
    runs = sweep.plan(definition, workdir)
    # The data and the evaluator come first: a missing dataset stops before any training.
    data_config = run_config(runs[0]["overrides"]).data
    evaluator = ImageEvaluator(data_config, settings["fd_samples"], split=settings["split"])
    start = time.perf_counter()
    if not finished_only:
        train_all(definition, workdir)
    train_s = time.perf_counter() - start
    done = [r for r in runs if _finished(r)]
    if len({r["variant"] for r in done}) < 2:
        raise RuntimeError(f"only {len(done)} of {len(runs)} runs in {workdir} have finished, "
                           "too few losses to rank; run the command without "
                           "--finished_only to train them")
    scorer = Scorer(evaluator, settings["fd_samples"])
    per_loss: dict[str, list[dict[str, Any]]] = {}
    grids = {}
    for r in done:
        first = r["variant"] not in grids
        result = scorer.score_run(r, grid=16 if first else 0)
        grid = result.pop("grid")
        if first:
            grids[r["variant"]] = grid
        per_loss.setdefault(r["variant"], []).append({**result, "seed": r["seed"]})
    summary = summarise(per_loss)
    os.makedirs(out_dir, exist_ok=True)
    plot(per_loss, summary, grids, os.path.join(out_dir, f"{NAME}.png"))
    table = summary["per_loss"]
    every_finite = all(np.isfinite(v) for t in table.values() for v in t["fd_final"])
    improves = all(t["fd_final_mean"] < np.mean(t["fd_untrained"]) for t in table.values())
    rho = summary.get("spearman_final", float("nan"))
    partial = (f"partial: {len(done)} of {len(runs)} runs; " if len(done) < len(runs) else "")
    seeds = sorted({r["seed"] for r in done})
    # The runs may have trained over several calls: the record's run time is theirs plus
    # this call's own work other than training.
    run_seconds = {n: [_run_seconds(r) for r in done if r["variant"] == n] for n in per_loss}
    runtime = (sum(sum(v) for v in run_seconds.values())
               + (time.perf_counter() - call_start - train_s))
    record = {
        "runtime_s": round(runtime, 1),
        "title": "Lucic et al. 2018, loss ablation on MNIST (CPU scale)",
        "paper": "best FID: WGAN 6.7, NS 6.8, DRAGAN 7.6, LSGAN 7.8, MM 9.8, WGAN-GP 20.3 "
                 "(BEGAN 13.1 not in gan_jax)",
        "ours": partial + ", ".join(
            f"{n} {_fmt(t['fd_final_mean'])}±{_fmt(t['fd_final_std'])}" for n, t in
            sorted(table.items(), key=lambda kv: kv[1]["fd_final_mean"]))
            + f" (final FD-LeNet, mean±std over seeds {seeds}, {settings['num_steps']} G "
              f"steps); Spearman with the paper's ranking {rho:.2f}",
        "numbers": {
            **summary,
            "per_seed": {n: [{"seed": r["seed"], "steps": r["steps"], "fd_lenet": r["fd"]}
                             for r in rs] for n, rs in per_loss.items()},
            "runs_finished": len(done), "runs_planned": len(runs),
            "missing_runs": [f"{r['variant']} seed {r['seed']}" for r in runs
                             if not _finished(r)],
            "settings": {**settings, "config": os.path.relpath(CONFIG, ROOT),
                         "batch_size": 64, "optimizer": "adam lr 2e-4 b1 0.5 b2 0.999",
                         "variants": {n: o for n, o, _ in LOSSES if n in settings["losses"]},
                         "fd_reference": evaluator.reference_key,
                         "workdir": workdir},
            "training_s_this_call": train_s,
            "run_seconds": run_seconds,
            "paper_excluded": PAPER_EXCLUDED,
            "notes": [
                "Absolute values are not comparable with the paper: FD-LeNet uses a LeNet "
                "trained on MNIST as feature network (the paper: FID on Inception-v3), and "
                "the runs are far shorter than the paper's.",
                "The paper's value per loss is the best FID of a large hyperparameter "
                "search; ours is one setting (the config's) per loss, ranked by the mean "
                "over seeds of the final generator's FD-LeNet.",
                "LSGAN is lsgan_011 (a = 0, b = c = 1), the coding of the paper's Table 1.",
                f"{settings['num_steps']} G steps of batch 64 "
                f"({settings['num_steps'] * 64 / 60000:.2f} epochs of MNIST): the ranking "
                "is one of early training under equal G steps, not of converged quality.",
                "BEGAN is not in gan_jax and is excluded from the ranking and Spearman.",
                "runtime_s is the sum of the runs' times (run_seconds: per run, the larger "
                "of its recorded wall time and its logged training time, every call that "
                "trained it included) plus the scoring, whichever calls of the command they "
                "ran in.",
            ],
        },
        "checks": {
            "every finished run ends with a finite FD-LeNet": bool(every_finite),
            "every loss improves the mean FD over its untrained generator": bool(improves),
        },
        "tolerances": {},
    }
    if inception:
        record = add_inception(record, quick, data_dir, workdir, finished_only)
    return record


def inception_only(out_dir: str, quick: bool, data_dir: str | None, workdir: str | None,
                   finished_only: bool = False) -> str:
    """Adds the Inception FIDs to the record already in ``out_dir``; returns its path.

    Nothing else of the record is recomputed; its ``runtime_s`` grows by this call's time.
    """
    path = os.path.join(out_dir, f"{NAME}.json")
    if not os.path.exists(path):
        raise SystemExit(f"no record {path} to add Inception FIDs to; run the command without "
                         "--inception_only first")
    with open(path) as f:
        record = json.load(f)
    if bool(record.get("quick")) != quick:
        raise SystemExit(f"{path} is a {'quick' if record.get('quick') else 'full'} record; "
                         f"pass{' ' if record.get('quick') else ' no '}--quick to match it")
    start = time.perf_counter()
    workdir = workdir or os.path.join(ROOT, "workdirs", "paper", NAME + ("_quick" if quick else ""))
    record = add_inception(record, quick, data_dir, workdir, finished_only)
    seconds = time.perf_counter() - start
    record["numbers"]["inception"]["seconds_last_call"] = round(seconds, 1)
    record["runtime_s"] = round(record["runtime_s"] + seconds, 1)
    with open(path, "w") as f:
        json.dump(common._plain(record), f, indent=2)
        f.write("\n")
    print(record["ours"])
    return path


def _main(argv: list[str] | None = None) -> None:
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--data_dir", default=None)
    extra.add_argument("--workdir", default=None)
    extra.add_argument("--finished_only", action="store_true")
    extra.add_argument("--inception", action="store_true")
    extra.add_argument("--inception_only", action="store_true")
    extra.add_argument("--out", default=common.RESULTS_DIR)
    args, rest = extra.parse_known_args(argv)
    if args.inception_only:
        from gan_jax import host

        host.quiet_tensorflow()
        host.retain_freed_memory()
        path = inception_only(args.out, "--quick" in rest, args.data_dir, args.workdir,
                              args.finished_only)
        print(f"updated {path}")
        return
    rest = [*rest, "--out", args.out]

    def run_here(out_dir: str, quick: bool = False) -> dict[str, Any]:
        return run(out_dir, quick=quick, data_dir=args.data_dir, workdir=args.workdir,
                   finished_only=args.finished_only, inception=args.inception)

    run_here.__module__ = __name__
    from gan_jax.sweep import SweepStopped

    try:
        common.main(run_here, __doc__, rest)
    except SweepStopped as e:  # SIGTERM/SIGINT: the run in progress is saved
        print(f"{e}; rerun the same command to resume", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    _main(sys.argv[1:])
