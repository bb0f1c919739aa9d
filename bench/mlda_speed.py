"""Seconds for 100 MLDA Gibbs sweeps (and 100 MM sweeps) on the 3,000 bundled pairs.

    python bench/mlda_speed.py --data_root=DIR

The GMM modality is made of k-means classes of the images as one-hot probabilities times
200 (its counts per document match the real model's; only speed is measured here).
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import data  # noqa: E402
import mlda_module  # noqa: E402
import mm_module  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_root", default="./data")
    p.add_argument("--sweeps", type=int, default=100)
    args = p.parse_args()
    images, counts, labels = data.load_digit_pairs(args.data_root)
    from sklearn.cluster import KMeans
    classes = KMeans(10, n_init=1, random_state=0).fit_predict(images.numpy())
    gmm_counts = mlda_module.pseudo_counts(np.eye(10)[classes], 200)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    res = mlda_module.fit_mlda([gmm_counts, counts], 10, args.sweeps, rng)
    mlda_s = time.perf_counter() - start
    start = time.perf_counter()
    mm_module.fit_markov(res.class_prob, args.sweeps, rng)
    mm_s = time.perf_counter() - start
    tokens = int(gmm_counts.sum() + counts.sum())
    print(f"{len(counts)} documents, {tokens} tokens: {args.sweeps} MLDA sweeps {mlda_s:.1f} s, "
          f"{args.sweeps} MM sweeps {mm_s:.1f} s")


if __name__ == "__main__":
    main()
