"""The results table of README.md, built from the committed files under bench/results/.

    python bench/readme_table.py            # prints the markdown table

Each row is median [min, max] over the runs of one results file; the last column names
the folder. Nothing is run.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import load_results, spread  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def load(folder):
    """The results.json rows of bench/results/<folder> ([] when it has none)."""
    return load_results(os.path.join(RESULTS, folder))


def scores(rows):
    """ACC, NMI, ARI cells of a list of {acc, nmi, ari} dicts."""
    return [spread([r[m] for r in rows]) for m in ("acc", "nmi", "ari")]


def minutes(seconds):
    """'median [min, max]' of seconds: in seconds up to two minutes, else in minutes."""
    if max(seconds) < 120:
        return spread(seconds, 0) + " s"
    return spread([s / 60 for s in seconds], 1) + " min"


def run_rows(label, folder, images, stages=((0, "round0"), (5, "last"))):
    """Rows of a results.json of bench/accuracy.py or bench/run_table.py: round 0 (its
    seconds) and the last round (the whole run's seconds, or wall time when timed)."""
    res = load(folder)
    out = []
    for it, key in stages if res else ():
        secs = [r[key].get("seconds") if key == "round0" else r.get("wall_seconds") or r[key]["seconds"] for r in res]
        out.append((label(it), images, scores([r[key] for r in res]), "" if None in secs else minutes(secs), folder))
    return out


def ablation_rows(folder, images, names):
    """Rows of a results.json of bench/ablation.py, one per (stage, label) of names."""
    res = load(folder)
    return [(label, images, scores([r["stages"][stage] for r in res]),
             minutes([r["stages"][stage]["seconds"] for r in res]), folder) for stage, label in names if res]


LADDER = (("sklearn GMM", "3. default VAE (round 0), then scikit-learn's GaussianMixture"),
          ("t-SNE + EM", "4. default VAE, then EM on a t-SNE map of its latents (N2D-style)"),
          ("Gibbs 100", "5. default VAE, then 100 Gibbs sweeps from k-means, no map"))


def rows():
    """(what, images, [ACC, NMI, ARI], minutes, folder) of every row of the table."""
    out = []
    out += run_rows(lambda it: f"1. the original code, its defects included: round {it}", "cpu_original_code_10k",
                    "10,000", ((0, "round0"), (1, "last")))
    out += run_rows(lambda it: f"2. the original's settings, defects fixed: round {it}", "cpu_original_10k",
                    "10,000", ((0, "round0"), (1, "last")))
    out += ablation_rows("cpu_ablation_chain_10k", "10,000", LADDER)
    out += run_rows(lambda it: f"{6 if it == 0 else 7}. the default: round {it}"
                    + (" (no mutual learning yet)" if it == 0 else " (mutual learning)"), "cpu_chain_10k", "10,000")
    out += run_rows(lambda it: f"8. one Gibbs sweep a round instead of 100 (the previous default): round {it}",
                    "cpu_fast_75_15_10k", "10,000", ((5, "last"),))
    out += ablation_rows("cpu_ablation_chain_70k", "70,000", LADDER)
    out += run_rows(lambda it: f"{6 if it == 0 else 7}. the default: round {it}", "cpu_chain_70k", "70,000")
    if load("cpu_heldout_digits_chain"):
        out += run_rows(lambda it: f"held-out data, the default: round {it}", "cpu_heldout_digits_chain",
                        "1,797 8 x 8 digits")
    else:
        out += run_rows(lambda it: f"held-out data, the default with one sweep a round (8.): round {it}",
                        "cpu_heldout_sklearn_digits", "1,797 8 x 8 digits")
    return out


def table():
    lines = ["| what | images | ACC | NMI | ARI | time | results |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {what} | {n} | {' | '.join(cells)} | {mins} | `{folder}` |" for what, n, cells, mins, folder in rows()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
