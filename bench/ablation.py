"""What each part of the method adds, on the same latents: the ladder's rows that need no new run.

    python bench/ablation.py --runs=model/s1,model/s2 [--data_root=DIR] [--out=model/bench_ablation]
    python bench/ablation.py --merge=model/abl_a,model/abl_b --out=model/bench_ablation

Takes finished runs of main.py (one per seed) and scores, on each run's round-0 latents
(the VAE alone, prior N(0, I)):
  sklearn GMM  scikit-learn's GaussianMixture (full covariance, 5 k-means starts, the best
               likelihood kept): a VAE, then EM;
  t-SNE + EM   the t-SNE map of the latents clustered by EM (gmm_module.tsne_classes): the
               N2D-style start of the default's GMM, with no Gibbs sweep and no mutual learning;
  Gibbs 100    a Gibbs chain of 100 sweeps from a k-means start, no map (the argmax of its
               last sweep's probabilities, the run's GMM prior);
  long chain   100 sweeps from the same t-SNE map's start with the map's vote in every
               sweep, reporting the argmax of the last sweep (the default reports the
               average of sweeps 51-100); on the round-0 latents and on the last round's
               (a fresh map of those);
beside the run's own round 0 (the default's GMM on those latents) and last round (mutual
learning), read from its metrics.csv. Labels only score. Writes results.json (with the
long chains' ACC and log joint after every sweep), table.md and long_chain.png (ACC per
sweep of every long chain). --merge joins the results.json of several --out folders (runs
ablated by parallel processes) into --out and writes its table and plot, ablating nothing.
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
from common import load_many, save_results, save_table, spread  # noqa: E402

STAGES = ("sklearn GMM", "t-SNE + EM", "Gibbs 100", "long chain, round-0 latents", "round 0",
          "long chain, last round's latents", "last round")


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
    if labels is None or len(labels) != len(z):
        sys.exit(f"bench/ablation.py: {run} has {len(z)} latents but {cfg['data_root']} gave "
                 f"{0 if labels is None else len(labels)} labels; pass --data_root=DIR, the folder "
                 "the run was trained from")
    K, seed = cfg["K"], cfg["seed"]
    rng = np.random.default_rng([seed, 1])
    began = time.time()
    tsne_start = gmm_module.tsne_classes(z, K, rng)  # the map the round-0 long chain starts from too
    out = {
        "sklearn GMM": timed_scores(labels, lambda: GaussianMixture(K, n_init=5, random_state=seed).fit(z).predict(z)),
        "t-SNE + EM": {**stats.cluster_scores(labels, tsne_start[0]), "seconds": round(time.time() - began, 1)},
        "Gibbs 100": timed_scores(labels, lambda: gmm_module.fit_gibbs(
            z, K, 100, rng, main.gmm_prior(cfg, z), init="kmeans", assign="argmax").classes),
        "long chain, round-0 latents": long_chain(z, tsne_start, labels, cfg, rng),
        "long chain, last round's latents": long_chain(
            run_dir.load_array(run, "z", len(rows) - 1), None, labels, cfg, rng),
    }
    for stage, row in (("round 0", rows[0]), ("last round", rows[-1])):
        out[stage] = {k: row[k] for k in ("acc", "nmi", "ari", "seconds")}
    return {"run": run, "seed": seed, "n_data": len(labels), "rounds": len(rows), "stages": out}


def long_chain(z, start, labels, cfg, rng, sweeps=100):
    """The default's GMM step on latents z (N, D) with `sweeps` sweeps: from start (the
    classes, map probabilities and map of gmm_module.tsne_classes; made here when None),
    the map's vote in every sweep. Scores of the last sweep's argmax, its seconds (the map's
    included when made here) and the ACC and log joint of every sweep."""
    began = time.time()
    classes, map_prob, _ = start or gmm_module.tsne_classes(z, cfg["K"], rng)
    gmm = gmm_module.fit_gibbs(z, cfg["K"], sweeps, rng, main.gmm_prior(cfg, z), classes=classes,
                               labels=labels, bias=map_prob, assign="argmax")
    return {**stats.cluster_scores(labels, gmm.classes), "seconds": round(time.time() - began, 1),
            "acc_per_sweep": gmm.history["acc"], "log_joint_per_sweep": gmm.history["log_joint"]}


def plot_chains(results, path):
    """ACC after every sweep of each run's two long chains (round-0 and last-round latents)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for stage, color in (("long chain, round-0 latents", "tab:red"), ("long chain, last round's latents", "tab:blue")):
        for i, r in enumerate(results):
            acc = r["stages"][stage]["acc_per_sweep"]
            ax.plot(np.arange(1, len(acc) + 1), acc, color=color, alpha=0.7,
                    label=stage.replace("long chain, ", "") if i == 0 else None)
    ax.set_xscale("log")
    ax.set_xlabel("Gibbs sweep (the map's vote in every sweep)")
    ax.set_ylabel("ACC of the sweep's argmax")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


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
    p.add_argument("--runs", default="", help="comma-separated folders of finished runs, one per seed")
    p.add_argument("--merge", default="", help="comma-separated --out folders whose results to join; "
                   "ablates nothing")
    p.add_argument("--data_root", default="", help="the data's folder, if not the one in the runs' config.json")
    p.add_argument("--out", default="model/bench_ablation")
    args = p.parse_args()
    if bool(args.runs) == bool(args.merge):
        p.error("give either --runs (folders of finished runs) or --merge (earlier --out folders)")
    if args.merge:
        results = load_many(args.merge)
        if not results:
            p.error(f"--merge: no results.json rows in {args.merge}")
        results.sort(key=lambda r: r["seed"])
    else:
        try:
            results = [ablate(run, args.data_root) for run in args.runs.split(",")]
        except (main.SettingError, main.RunError) as err:
            sys.exit(f"ablation.py: {err}")
    save_results(args.out, results)
    save_table(args.out, table(results))
    plot_chains(results, os.path.join(args.out, "long_chain.png"))


if __name__ == "__main__":
    main_bench()
