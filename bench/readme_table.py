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


def rows():
    """(images, recipe, device, stage, [ACC, NMI, ARI], folder) of every row of the table."""
    out = []
    fast = load("cpu_fast_75_15_10k")
    ablation = load("cpu_ablation_75_15_10k")
    stage = lambda name: [r["stages"][name] for r in ablation]  # noqa: E731
    default = "default"
    out += [
        ("10,000", default, "CPU", "round 0", scores([r["round0"] for r in fast]), "cpu_fast_75_15_10k"),
        ("10,000", default, "CPU", "round 5", scores([r["last"] for r in fast]), "cpu_fast_75_15_10k"),
        ("10,000", default, "CPU", "sklearn GMM, round-0 latents", scores(stage("sklearn GMM")),
         "cpu_ablation_75_15_10k"),
        ("10,000", default, "CPU", "t-SNE map + EM, round-0 latents", scores(stage("t-SNE + EM")),
         "cpu_ablation_75_15_10k"),
        ("10,000", default, "CPU", "Gibbs 100 from k-means, round-0 latents", scores(stage("Gibbs 100")),
         "cpu_ablation_75_15_10k"),
        ("10,000", default, "CPU", "Gibbs 100 with the map's vote, round-0 latents",
         scores(stage("long chain, round-0 latents")), "cpu_ablation_75_15_10k"),
        ("10,000", default, "CPU", "Gibbs 100 with the map's vote, round-5 latents",
         scores(stage("long chain, last round's latents")), "cpu_ablation_75_15_10k"),
    ]
    h100 = load("h100_default_10k")
    out += [("10,000", "earlier default (150 epochs a round)", "H100", "round 5", scores([r["last"] for r in h100]),
             "h100_default_10k")]
    orig = load("cpu_original_code_10k")
    if orig:
        out += [("10,000", "original code, its defects included", "CPU", f"round {i}", scores([r[k] for r in orig]),
                 "cpu_original_code_10k") for i, k in ((0, "round0"), (1, "last"))]
    dig = load("cpu_heldout_sklearn_digits")
    if dig:
        out += [("1,797 (8 x 8 digits)", "default, held-out data", "CPU", f"round {i}", scores([r[k] for r in dig]),
                 "cpu_heldout_sklearn_digits") for i, k in ((0, "round0"), (5, "last"))]
    for folder, recipe in (("cpu_default_70k", "earlier default (21 epochs a round)"),
                           ("cpu_no_map_70k", "the same, no map's vote")):
        res = load(folder)
        if folder == "cpu_default_70k":
            out.append(("70,000", recipe, "CPU", "round 0", scores([r["round0"] for r in res]), folder))
        out.append(("70,000", recipe, "CPU", "round 5", scores([r["last"] for r in res]), folder))
    return out


def table():
    lines = ["| images | recipe | device | stage | ACC | NMI | ARI | results |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {n} | {recipe} | {device} | {stage} | {' | '.join(cells)} | `{folder}` |"
              for n, recipe, device, stage, cells, folder in rows()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
