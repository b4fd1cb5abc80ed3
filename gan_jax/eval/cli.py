"""``gan-jax eval`` and ``gan-jax sample``: evaluate or draw from a run's checkpoint.

    gan-jax eval --workdir W [--checkpoint latest|best|STEP] [--num_samples N]
                 [--features lenet|inception] [--resize MODE] [--protocol NAME]
    gan-jax sample --workdir W [--checkpoint latest|best|STEP] --num N --out PATH [--seed S]

Both read the run's ``W/config.json`` and restore one checkpoint: ``latest`` (the
newest in ``W/checkpoints/``, the default), ``best`` (``W/best_checkpoint/``, kept
by ``config.best_metric``) or a step number in ``W/checkpoints/``.

``eval`` scores N generated samples (default: the run's ``eval_samples``, or
``num_toy_samples`` for toys) with the same latents training's evaluation uses, prints
the metrics with their reference key and appends them as one row to ``W/eval.jsonl``
(the run's file of evaluations; ``metrics.jsonl`` stays the training log). ``--features``,
``--resize`` and ``--protocol`` replace the run's ``eval_features``, ``eval_resize`` and
``eval_protocol`` for this evaluation (``--features inception`` reports FID).
``sample`` writes ``PATH.npz`` (``samples`` [N, *data_shape] float32, ``latents``
[N, latent_dim] float32) and ``PATH.png`` (an image grid of at most 256, or the toy
samples over the data density).

Mistakes (no such workdir, no checkpoint, an unreadable one, a bad
``--checkpoint``) are one line on stderr with exit status 2, before anything is
written; a checkpoint is never moved or changed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

from gan_jax.errors import RunError

_GRID_MAX = 256           # images drawn in the PNG of `gan-jax sample`


def _parser(command: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"gan-jax {command}")
    p.add_argument("--workdir", required=True, help="a run's workdir (holds config.json)")
    p.add_argument("--checkpoint", default="latest",
                   help="latest (default), best, or a step number in WORKDIR/checkpoints")
    return p


def _args(command: str, argv: list[str]) -> argparse.Namespace:
    p = _parser(command)
    if command == "eval":
        p.add_argument("--num_samples", type=int, default=None,
                       help="generated samples (default: the run's eval_samples; toys: "
                            "num_toy_samples)")
        p.add_argument("--features", default=None, choices=["auto", "lenet", "inception"],
                       help="image features (default: the run's eval_features)")
        p.add_argument("--resize", default=None, choices=list(_resize_modes()),
                       help="Inception resize mode (default: the run's eval_resize)")
        p.add_argument("--protocol", default=None, choices=["none", *_protocols()],
                       help="a named protocol: Inception features, its split and counts")
    else:
        p.add_argument("--num", type=int, required=True, help="samples to draw")
        p.add_argument("--out", required=True, help="PATH: writes PATH.npz and PATH.png")
        p.add_argument("--seed", type=int, default=0, help="seed of the latents")
    return p.parse_args(argv)


def load_run(workdir: str, which: str):
    """(config, gan, state, meta, checkpoint path) of ``which`` checkpoint of ``workdir``."""
    from gan_jax import runs

    run = runs.restore(workdir, which)
    return run.config, run.gan, run.state, run.meta, run.path


def format_metrics(metrics: dict[str, float]) -> list[str]:
    """Lines ``name  value [± std]`` for the metrics present, in the evaluators' order."""
    from gan_jax.eval import evaluate

    lines = []
    for metric in evaluate.DECLARED.values():
        if metric.name not in metrics:
            continue
        value = f"{metrics[metric.name]:.6g}"
        if metric.std and metric.std in metrics:
            value += f" ± {metrics[metric.std]:.2g}"
        lines.append(f"  {metric.label:<22}{value}")
    return lines


def _resize_modes():
    from gan_jax.eval import inception

    return inception.RESIZE_MODES


def _protocols():
    from gan_jax.eval import image_eval

    return image_eval.PROTOCOLS


def evaluate_run(workdir: str, which: str = "latest", num_samples: int | None = None, *,
                 features: str | None = None, resize: str | None = None,
                 protocol: str | None = None) -> dict:
    """Evaluates a checkpoint of ``workdir``; prints and appends a row to ``eval.jsonl``.

    ``features``, ``resize`` and ``protocol`` replace the run's evaluation fields.
    """
    from gan_jax.eval import evaluate

    if num_samples is not None and num_samples < _min_samples():
        raise RunError(f"--num_samples={num_samples} must be at least {_min_samples()}")
    if num_samples is not None and protocol not in (None, "none"):
        raise RunError(f"--protocol {protocol} fixes the sample counts; drop --num_samples")
    if features == "lenet" and protocol not in (None, "none"):
        raise RunError(f"--protocol {protocol} uses the Inception features, not --features "
                       "lenet")
    config, gan, state, meta, path = load_run(workdir, which)
    for field, value in (("eval_features", features), ("eval_resize", resize),
                         ("eval_protocol", protocol)):
        if value is not None:
            config[field] = value
    step = int(meta["step"])
    start = time.perf_counter()
    evaluation = evaluate.Evaluation(config, gan, num_samples)
    scores = evaluation(state)
    seconds = time.perf_counter() - start
    metrics = {k[len(evaluate.PREFIX):]: v for k, v in scores.items()
               if k.startswith(evaluate.PREFIX)}
    row = {"step": step, "checkpoint": which, "checkpoint_path": path,
           **{evaluate.PREFIX + k: v for k, v in metrics.items()},
           "eval_reference": evaluation.reference_key, "eval_samples": evaluation.n,
           "eval_features": evaluate.features_of(config) if evaluation.is_image else None,
           "eval_protocol": config.get("eval_protocol", "none"),
           "eval_seconds": seconds,
           "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
    print(f"Evaluation of {path} (step {step}, {which}) on {evaluation.n} samples")
    print(f"  reference: {evaluation.reference_key}")
    print("\n".join(format_metrics(metrics)))
    with open(os.path.join(workdir, "eval.jsonl"), "a") as f:
        f.write(json.dumps(row) + "\n")
    print(f"Took {seconds:.1f} s (model building and evaluator set-up included); "
          f"appended to {os.path.join(workdir, 'eval.jsonl')}")
    return row


def _min_samples() -> int:
    from gan_jax.configs import MIN_EVAL_SAMPLES

    return MIN_EVAL_SAMPLES


def sample_run(workdir: str, which: str, num: int, out: str, seed: int = 0) -> tuple[str, str]:
    """Draws ``num`` samples; writes ``out``.npz and ``out``.png; returns both paths."""
    import numpy as np

    from gan_jax import plotting, runs, sampling

    if num < 1:
        raise RunError(f"--num={num} must be a positive integer")
    base = out[:-4] if out.endswith(".npz") else out
    parent = os.path.dirname(os.path.abspath(base))
    if os.path.exists(parent) and not os.path.isdir(parent):
        raise RunError(f"--out {out}: {parent} is not a directory")
    run = runs.restore(workdir, which)
    meta, path = run.meta, run.path
    z = sampling.fixed_latents(seed, sampling.SAMPLE_COMMAND, (num, run.gan.latent_dim))
    y = sampling.fixed_labels(num, run.gan.num_classes)
    samples = sampling.Generator(run.gan)(run.state, z, y)
    try:
        os.makedirs(parent, exist_ok=True)
        arrays = {"samples": samples, "latents": np.asarray(z)}
        if y is not None:
            arrays["labels"] = np.asarray(y)
        np.savez(base + ".npz", **arrays)
        plotting.save_samples(samples, run.source, base + ".png",
                              title=f"step {int(meta['step'])}", max_images=_GRID_MAX,
                              labels=sampling.grid_labels(run.config, y))
    except OSError as e:
        raise RunError(f"cannot write {base}.npz / .png: {e.strerror}") from None
    print(f"Wrote {num} samples of {path} (step {int(meta['step'])}) to {base}.npz and "
          f"{base}.png")
    return base + ".npz", base + ".png"


def main(argv: list[str]) -> int:
    """``argv``: ``["eval", ...]`` or ``["sample", ...]``; returns the exit status."""
    command, rest = argv[0], argv[1:]
    args = _args(command, rest)
    from absl import logging

    from gan_jax.errors import ConfigError

    logging.set_verbosity(logging.WARNING)
    try:
        if command == "eval":
            evaluate_run(args.workdir, args.checkpoint, args.num_samples,
                         features=args.features, resize=args.resize, protocol=args.protocol)
        else:
            sample_run(args.workdir, args.checkpoint, args.num, args.out, args.seed)
    except (RunError, ConfigError) as e:
        print(f"gan-jax: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
