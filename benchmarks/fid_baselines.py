"""FID of real data against real data: the floor a generator's FID is read against.

    python benchmarks/fid_baselines.py [--data_dir D] [--out benchmarks/results/fid_baselines.json]

With the FID Inception weights (``gan-jax features prepare inception``), MNIST
(``gan-jax data prepare mnist``) and the emoji set (``gan-jax data prepare emoji``):

- MNIST train vs test: 10,000 training images (the reference sample of
  ``image_eval.reference_indices``) against the 10,000 test images;
- emoji vs itself: the 3,786 images split in two halves of 1,893
  (``numpy.random.default_rng(0).permutation``), once per resize mode
  (``tf_bilinear``, ``torch_bilinear``, ``pil_bicubic``), which shows how far apart the
  three resizes put the same pair of image sets;
- a sanity ladder on the emoji halves: 500 images of one half, clean, blurred
  (Gaussian, sigma 1 and 2 pixels), with Gaussian noise (std 0.1 and 0.2 on the [-1, 1]
  scale) and with the largest category left out, each against the whole other half:
  FID should grow with blur and noise and with the missing category.

Every feature set goes through ``ImageEvaluator``'s cache (the references are the same
files training evaluations use), so a rerun costs nothing and an interrupted one resumes.
The JSON records the network id, the keys, the counts and the wall time per part.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from gan_jax import host  # noqa: E402
from gan_jax.eval import image_eval, inception, metrics  # noqa: E402

LADDER_N = 500


def cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(line for line in f if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return platform.processor() or "unknown"
    return ", ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in flags)


def _data(name: str, data_dir, split: str = "train"):
    from gan_jax.configs import base_config

    c = base_config().data
    c.name, c.data_dir, c.split = name, data_dir, split
    return c


def _fid(a: np.ndarray, b: np.ndarray) -> float:
    return metrics.frechet_distance(a, b)


def _blur(images: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    x = images.astype(np.float32)
    return np.clip(gaussian_filter(x, sigma=(0, sigma, sigma, 0)), 0, 255).round().astype(np.uint8)


def _noise(images: np.ndarray, std: float, seed: int = 0) -> np.ndarray:
    x = images.astype(np.float32) / 127.5 - 1
    x = x + std * np.random.default_rng(seed).normal(size=x.shape)
    return np.clip(x, -1, 1).astype(np.float32)


def run(data_dir=None) -> dict:
    from gan_jax import data as data_lib
    from gan_jax.eval import real_data

    out: dict = {"cpu": cpu_flags(), "parts": {}}
    start = time.perf_counter()
    test = image_eval.ImageEvaluator(_data("mnist", data_dir, "test"), 10_000,
                                     features="inception")
    train = image_eval.ImageEvaluator(_data("mnist", data_dir), 10_000, features="inception")
    out["network"] = test.net.id
    out["parts"]["mnist_train_vs_test"] = {
        "fid": _fid(train.real_features, test.real_features),
        "keys": [train.reference_key, test.reference_key],
        "seconds": round(time.perf_counter() - start, 1)}
    print("MNIST train vs test:", out["parts"]["mnist_train_vs_test"], flush=True)

    halves = {}
    for mode in inception.RESIZE_MODES:
        start = time.perf_counter()
        ev = image_eval.ImageEvaluator(_data("emoji", data_dir), 3786, features="inception",
                                       resize=mode)
        order = np.random.default_rng(0).permutation(ev.real_features.shape[0])
        a, b = order[:1893], order[1893:]
        halves[mode] = (ev, a, b)
        out["parts"][f"emoji_halves_{mode}"] = {
            "fid": _fid(ev.real_features[a], ev.real_features[b]), "key": ev.reference_key,
            "seconds": round(time.perf_counter() - start, 1)}
        print(f"emoji halves, {mode}:", out["parts"][f"emoji_halves_{mode}"], flush=True)

    start = time.perf_counter()
    ev, a, b = halves[inception.DEFAULT_RESIZE]
    source_images, labels = real_data.load_builder_split(
        data_lib.get(_data("emoji", data_dir)).builder, "emoji", "train")
    # The reference sample is the whole split in TFDS order: indices are positions.
    picked = a[:LADDER_N]
    reference = ev.real_features[b]
    clean = source_images[picked]
    largest = np.bincount(labels).argmax()
    others = a[labels[a] != largest][:LADDER_N]
    rungs = {
        "clean": clean,
        "blur_sigma1": _blur(clean, 1.0), "blur_sigma2": _blur(clean, 2.0),
        "noise_0.1": _noise(clean, 0.1), "noise_0.2": _noise(clean, 0.2),
        "largest_category_left_out": source_images[others],
    }
    ladder = {}
    for name, images in rungs.items():
        _, feats = ev.net.apply(images)
        ladder[name] = _fid(feats, reference)
        print(f"ladder {name}: {ladder[name]:.2f}", flush=True)
    out["parts"]["emoji_ladder"] = {"fid": ladder, "n": LADDER_N, "against": "the other half",
                                    "seconds": round(time.perf_counter() - start, 1)}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_dir", default=None)
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                 "fid_baselines.json"))
    args = p.parse_args(argv)
    host.quiet_tensorflow()
    record = run(args.data_dir)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
