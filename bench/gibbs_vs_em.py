"""Seconds per Gibbs sweep (gmm_module) against seconds per EM iteration of
sklearn.mixture.GaussianMixture (full covariance), on the same latents, in one process.

    python bench/gibbs_vs_em.py --latents=model/debug/npy/z_0.npy   # latents of a run
    python bench/gibbs_vs_em.py                                     # synthetic 12-D latents

EM's initialisation is excluded by timing fits of max_iter=20 and max_iter=10 (tol=0,
the same init) and dividing the difference by 10. Medians over --repeats.
"""
import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import gmm_module  # noqa: E402


def em_iteration_seconds(x, K, seed):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture
    times = {}
    for iters in (10, 20):
        gm = GaussianMixture(K, covariance_type="full", max_iter=iters, tol=0, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            gm.fit(x)
            times[iters] = time.perf_counter() - start
    return (times[20] - times[10]) / 10


def gibbs_sweep_seconds(x, K, seed, sweeps=20):
    rng = np.random.default_rng(seed)
    classes = rng.integers(0, K, len(x))
    start = time.perf_counter()
    gmm_module.fit_gibbs(x, K, 0, rng, classes=classes)  # set-up only: features, prior, first draw
    setup = time.perf_counter() - start
    start = time.perf_counter()
    gmm_module.fit_gibbs(x, K, sweeps, rng, classes=classes)
    return (time.perf_counter() - start - setup) / sweeps


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--latents", default="", help=".npy of latents (N x D); default synthetic")
    p.add_argument("--sizes", default="10000,70000", help="N values (rows are tiled when needed)")
    p.add_argument("--K", type=int, default=10)
    p.add_argument("--D", type=int, default=12)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    base = (np.load(args.latents) if args.latents else
            rng.standard_normal((args.K, args.D))[rng.integers(0, args.K, 70000)] * 3
            + rng.standard_normal((70000, args.D)))
    print("| N | D | K | Gibbs sweep (ms) | EM iteration (ms) | ratio |")
    print("|---|---|---|---|---|---|")
    for n in map(int, args.sizes.split(",")):
        x = np.resize(base, (n, base.shape[1])).astype(np.float64)
        g = np.median([gibbs_sweep_seconds(x, args.K, s) for s in range(args.repeats)])
        e = np.median([em_iteration_seconds(x, args.K, s) for s in range(args.repeats)])
        print(f"| {n} | {x.shape[1]} | {args.K} | {1e3 * g:.1f} | {1e3 * e:.1f} | {g / e:.2f} |", flush=True)


if __name__ == "__main__":
    main()
