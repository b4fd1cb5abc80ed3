"""Time of FD, KID and PRDC on 10,000 real x 10,000 generated feature vectors.

    python benchmarks/metrics.py [--n 10000] [--dim 64] [--reference]

Runs the tested functions of gan_jax.eval.metrics, as the evaluator calls them
(KID: 100 subsets of 1,000; PRDC: k = 5), on seeded post-ReLU-like features of
gan_jax's LeNet width, and prints each wall time and CPU time (this process,
all threads), the totals and the load average before and after: on a shared
machine the CPU time says more than the wall time. ``--reference`` also times the
``prdc`` package on the same arrays, side by side, and checks the four values
agree to 1e-5 relative.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from gan_jax.eval import feature_net, image_eval, metrics  # noqa: E402


def _features(n: int, dim: int, shift: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = np.eye(dim) + 0.2 * rng.normal(size=(dim, dim)) / np.sqrt(dim)
    return np.maximum(rng.normal(size=(n, dim)) @ mix + shift, 0.0).astype(np.float32)


def _timed(fn):
    """(result, wall seconds, CPU seconds of this process, all threads)."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="vectors per set")
    parser.add_argument("--dim", type=int, default=feature_net.FEATURE_DIM)
    parser.add_argument("--reference", action="store_true",
                        help="also time the prdc package (needs ~3 x n^2 x 8 bytes)")
    args = parser.parse_args()
    real = _features(args.n, args.dim, 0.3, seed=0)
    fake = _features(args.n, args.dim, 0.4, seed=1)
    load_before = os.getloadavg()
    fd, *t_fd = _timed(lambda: metrics.frechet_distance(real, fake))
    kid, *t_kid = _timed(lambda: metrics.kernel_inception_distance(
        real, fake, num_subsets=image_eval.KID_SUBSETS,
        subset_size=image_eval.KID_SUBSET_SIZE, seed=0))
    prdc_values, *t_prdc = _timed(lambda: metrics.precision_recall_density_coverage(
        real, fake, k=image_eval.PRDC_K))
    load_after = os.getloadavg()
    print(f"{args.n} x {args.n} vectors of dimension {args.dim}, {os.cpu_count()} CPUs")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    print("metric   wall s    CPU s")
    print(f"FD     {t_fd[0]:7.2f}  {t_fd[1]:7.2f}   fd = {fd:.6g}")
    print(f"KID    {t_kid[0]:7.2f}  {t_kid[1]:7.2f}   kid = {kid['mean']:.6g} +- {kid['std']:.3g} "
          f"({image_eval.KID_SUBSETS} subsets of {image_eval.KID_SUBSET_SIZE})")
    print(f"PRDC   {t_prdc[0]:7.2f}  {t_prdc[1]:7.2f}   "
          + ", ".join(f"{k} = {v:.6g}" for k, v in prdc_values.items()))
    print(f"total  {t_fd[0] + t_kid[0] + t_prdc[0]:7.2f}  {t_fd[1] + t_kid[1] + t_prdc[1]:7.2f}")
    if args.reference:
        import prdc

        ref, *t_ref = _timed(lambda: prdc.compute_prdc(real_features=real.astype(np.float64),
                                                      fake_features=fake.astype(np.float64),
                                                      nearest_k=image_eval.PRDC_K))
        for key, value in prdc_values.items():
            np.testing.assert_allclose(value, ref[key], rtol=1e-5, err_msg=key)
        print(f"prdc package {t_ref[0]:7.2f} s wall, {t_ref[1]:7.2f} s CPU, same values to "
              f"1e-5; gan_jax / prdc CPU time ratio {t_prdc[1] / t_ref[1]:.2f}")


if __name__ == "__main__":
    main()
