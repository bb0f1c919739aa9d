"""What each part of the method adds, on the same latents: the ladder's rows that need no new run.

    python bench/ablation.py --runs=model/s1,model/s2 [--data_root=DIR] [--out=model/bench_ablation]

Takes finished runs of main.py (one per seed) and scores, on each run's round-0 latents
(the VAE alone, prior N(0, I)):
  sklearn GMM  scikit-learn's GaussianMixture (full covariance, 5 k-means starts, the best
               likelihood kept): a VAE, then EM;
  t-SNE + EM   the t-SNE map of the latents clustered by EM (gmm_module.tsne_classes): the
               N2D-style start of the default's GMM, with no Gibbs sweep and no mutual learning;
  Gibbs 100    a Gibbs chain of 100 sweeps from a k-means start, no map (the argmax of its
               last sweep's probabilities, the run's GMM prior);
beside the run's own round 0 (the default's GMM on those latents) and last round (mutual
learning), read from its metrics.csv. Labels only score. Writes results.json and table.md.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import gmm_module  # noqa: E402
import main  # noqa: E402
import run_dir  # noqa: E402
import stats  # noqa: E402
from common import save_results, save_table, spread  # noqa: E402

STAGES = ("sklearn GMM", "t-SNE + EM", "Gibbs 100", "round 0", "last round")


def timed_scores(labels, work):
    """ACC, NMI, ARI of the classes work() returns, and its seconds."""
    start = time.time()
    classes = work()
    return {**stats.cluster_scores(labels, classes), "seconds": round(time.time() - start, 1)}


def ablate(run, data_root):
    """{stage: scores} for one finished run (see the module docstring)."""
    from sklearn.mixture import GaussianMixture
    cfg = run_dir.load_run_config(run)
    cfg = {**cfg, "data_root": data_root or cfg["data_root"]}
    _, labels, _ = main.load_data(cfg)
    rows = run_dir.read_metrics(run)
    z = run_dir.load_array(run, "z", 0)
    K, seed = cfg["K"], cfg["seed"]
    rng = np.random.default_rng([seed, 1])
    out = {
        "sklearn GMM": timed_scores(labels, lambda: GaussianMixture(K, n_init=5, random_state=seed).fit(z).predict(z)),
        "t-SNE + EM": timed_scores(labels, lambda: gmm_module.tsne_classes(z, K, rng)[0]),
        "Gibbs 100": timed_scores(labels, lambda: gmm_module.fit_gibbs(
            z, K, 100, rng, main.gmm_prior(cfg, z), init="kmeans", assign="argmax").classes),
    }
    for stage, row in (("round 0", rows[0]), ("last round", rows[-1])):
        out[stage] = {k: row[k] for k in ("acc", "nmi", "ari", "seconds")}
    return {"run": run, "seed": seed, "n_data": len(labels), "rounds": len(rows), "stages": out}


def table(results):
    """Markdown: median [min, max] over the runs of every stage."""
    lines = ["| stage | runs | ACC | NMI | ARI | seconds |", "|---|---|---|---|---|---|"]
    for stage in STAGES:
        cell = lambda m, d=3: spread([r["stages"][stage][m] for r in results], d)  # noqa: E731
        lines.append(f"| {stage} | {len(results)} | {cell('acc')} | {cell('nmi')} | {cell('ari')} | "
                     f"{cell('seconds', 0)} |")
    return "\n".join(lines)


def main_bench():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="comma-separated folders of finished runs, one per seed")
    p.add_argument("--data_root", default="", help="the data's folder, if not the one in the runs' config.json")
    p.add_argument("--out", default="model/bench_ablation")
    args = p.parse_args()
    try:
        results = [ablate(run, args.data_root) for run in args.runs.split(",")]
    except (main.SettingError, main.RunError) as err:
        sys.exit(f"ablation.py: {err}")
    save_results(args.out, results)
    save_table(args.out, table(results))


if __name__ == "__main__":
    main_bench()
