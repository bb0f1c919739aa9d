"""Can the Gibbs chain be the clustering engine? Every sweep of every round of finished runs.

    python bench/chain.py --runs=model/chain_s1,model/chain_s2 --out=bench/results/cpu_chain_10k

Reads, from each run of main.py (one per seed, run with labels), what its GMM saved per
sweep in every round: the log joint (npy/log_joint_<round>.npy), the ACC of the sweep's
own argmax (npy/sweep_acc_<round>.npy) and the ACC of the classes reported after that
sweep (npy/acc_<round>.npy: the argmax of the probabilities averaged over the sweeps after
burn-in when gmm_assign="mean"). Writes chain.png (median over runs of both ACCs and of
the log joint, per sweep, one line per round), results.json (every run's curves) and
table.md (ACC of the sweep alone at sweeps 1, 2, 5, 10, 20, 50, 100 and the reported ACC,
median [min, max] over runs, per round). Runs nothing; labels only score.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import run_dir  # noqa: E402
from common import save_results, save_table, spread  # noqa: E402

SWEEPS = (1, 2, 5, 10, 20, 50, 100)


def curves(run):
    """{round: {"log_joint", "sweep_acc", "acc": lists per sweep}} of one run."""
    rounds = len(run_dir.read_metrics(run))
    return {it: {k: run_dir.load_array(run, k, it).tolist() for k in ("log_joint", "sweep_acc", "acc")}
            for it in range(rounds)}


def table(results):
    """Markdown: per round, the sweep's own ACC at SWEEPS and the reported ACC (median [min, max])."""
    n = len(results[0]["rounds"]["0"]["acc"])
    shown = [s for s in SWEEPS if s <= n]
    lines = ["| round | " + " | ".join(f"sweep {s}" for s in shown) + " | reported (average) |",
             "|---" * (len(shown) + 2) + "|"]
    for it in sorted(results[0]["rounds"], key=int):
        per = [r["rounds"][it] for r in results]
        cells = [spread([p["sweep_acc"][s - 1] for p in per]) for s in shown]
        lines.append(f"| {it} | " + " | ".join(cells) + f" | {spread([p['acc'][-1] for p in per])} |")
    return "\n".join(lines)


def plot(results, path):
    """chain.png: ACC of the sweep alone, reported ACC and log joint per sweep, median over runs."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    rounds = sorted(results[0]["rounds"], key=int)
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(rounds)))
    for it, colour in zip(rounds, colours):
        med = {k: np.median([r["rounds"][it][k] for r in results], axis=0) for k in ("sweep_acc", "acc", "log_joint")}
        x = np.arange(1, len(med["acc"]) + 1)
        axes[0].plot(x, med["sweep_acc"], ":", color=colour)
        axes[0].plot(x, med["acc"], "-", color=colour, label=f"round {it}")
        axes[1].plot(x, med["log_joint"] - med["log_joint"][-1], color=colour, label=f"round {it}")
    axes[0].set(xlabel="Gibbs sweep", ylabel="ACC (median over runs)",
                title="dotted: the sweep alone; solid: reported (average after burn-in)")
    axes[1].set(xlabel="Gibbs sweep", ylabel="log joint minus its last value", title="log joint per sweep")
    for ax in axes:
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main_bench():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="comma separated folders of finished main.py runs")
    p.add_argument("--out", default="model/bench_chain")
    args = p.parse_args()
    results = []
    for run in args.runs.split(","):
        if not os.path.exists(os.path.join(run, "npy", "sweep_acc_0.npy")):
            p.error(f"--runs: {run} has no npy/sweep_acc_0.npy (a run with labels and this version of main.py)")
        cfg = run_dir.load_run_config(run)
        results.append({"run": os.path.basename(run), "seed": cfg["seed"], "gmm_iter": cfg["gmm_iter"],
                        "gmm_burn_in": cfg["gmm_burn_in"], "gmm_assign": cfg["gmm_assign"],
                        "rounds": {str(k): v for k, v in curves(run).items()}})
    save_results(args.out, results)
    plot(results, os.path.join(args.out, "chain.png"))
    save_table(args.out, table(results))


if __name__ == "__main__":
    main_bench()
