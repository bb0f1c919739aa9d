"""The results table of README.md: our rows from the committed files under bench/results/,
the seeds' own systems run here, and the published numbers of peers with their sources.

    python bench/analyse.py readme          # prints the markdown table

Each of our rows is median [min, max] over the runs of one results file, which the last
column names; a folder that does not exist yet gives no row. Nothing is run.
"""
import os

from common import load_results, spread

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

# Published numbers, all 70,000 images: (system, data, ACC, NMI, needs released or
# pre-trained weights, source). Checked at the source named.
PEERS = [
    ("VaDE", "MNIST", "0.945", "", "yes: its test script on its trained weights (94.46%), best run",
     "slim1017/VaDE README (Jiang et al. 2017)"),
    ("DEC / IDEC", "MNIST", "0.866 / 0.881", "", "yes: pre-trained auto-encoder weights",
     "Guo et al. 2017 (XifengGuo/IDEC-toy README)"),
    ("N2D (auto-encoder, UMAP, GMM)", "MNIST", "0.979", "0.942",
     "yes: released auto-encoder weights; retrained from scratch 0.836 (rymc/n2d issue 10)",
     "McConville et al. 2020, arXiv 1908.05968; rymc/n2d run.sh"),
    ("N2D", "Fashion-MNIST", "0.672", "0.684",
     "yes: released weights; users report 0.51-0.55 (rymc/n2d issue 8)", "McConville et al. 2020"),
    ("DEC-DA", "MNIST", "0.985", "0.960", "not checked", "XifengGuo/DEC-DA README (Guo et al. 2018)"),
    ("DEC-DA", "Fashion-MNIST", "0.586", "0.636", "not checked", "XifengGuo/DEC-DA README"),
]


def load(folder):
    """The results.json rows of bench/results/<folder> ([] when it has none)."""
    return load_results(os.path.join(RESULTS, folder))


def minutes(seconds):
    """'median [min, max]' of seconds: in seconds up to two minutes, else in minutes."""
    if max(seconds) < 120:
        return spread(seconds, 0) + " s"
    return spread([s / 60 for s in seconds], 1) + " min"


def run_rows(label, folder, data, stages=((0, "round0"), (5, "last"))):
    """Rows of a results.json of bench/run.py (or of the older scripts that made some
    folders): round 0 (its seconds) and the last round (the whole run's wall time when
    timed, else its seconds)."""
    res = load(folder)
    out = []
    for it, key in stages if res else ():
        # rows with "wall_seconds": the times of the runs whose wall was measured
        timed = [r for r in res if r.get("wall_seconds") or "wall_seconds" not in r]
        secs = [r[key].get("seconds") if key == "round0" else r.get("wall_seconds") or r[key]["seconds"]
                for r in timed]
        seeds = f"{len(res)} seed{'s' if len(res) > 1 else ''}" if len(res) != 5 else ""
        secs = [s for s in secs if s is not None]
        out.append((label(it), data, spread([r[key]["acc"] for r in res]), spread([r[key]["nmi"] for r in res]),
                    minutes(secs) + (f" ({len(secs)} runs timed)" if len(secs) < len(res) else "") if secs else "",
                    "no" + (f" ({seeds})" if seeds else ""), f"`{folder}`"))
    return out


def ablation_rows(folder, data, stage, label):
    """The row of one stage of a results.json of bench/analyse.py ladder."""
    res = load(folder)
    if not res:
        return []
    got = [r["stages"][stage] for r in res]
    return [(label, data, spread([g["acc"] for g in got]), spread([g["nmi"] for g in got]),
             minutes([g["seconds"] for g in got]), "no", f"`{folder}`")]


def rows():
    """(what, data, ACC, NMI, time, weights, results or source) of every row."""
    mnist10, mnist70 = "MNIST, first 10,000", "MNIST, all 70,000"
    fashion10, fashion70 = "Fashion-MNIST, first 10,000, held out", "Fashion-MNIST, all 70,000, held out"
    default = lambda it: f"**ours**: round {it}"  # noqa: E731
    out = []
    for folder, data in (("cpu_pairing_10k", mnist10), ("cpu_pairing_70k", mnist70),
                         ("cpu_fashion_10k", fashion10), ("cpu_fashion_70k", fashion70)):
        out += run_rows(default, folder, data)
    out += run_rows(lambda it: f"the original code (its defects): round {it}", "cpu_original_code_10k",
                    mnist10, ((0, "round0"), (1, "last")))
    for folder, data in (("cpu_ablation_chain_10k", mnist10), ("cpu_ablation_chain_70k", mnist70)):
        out += ablation_rows(folder, data, "sklearn GMM", "a VAE, then scikit-learn's GaussianMixture")
    out += run_rows(lambda it: "the GMVAE baseline (`--model=gmvae`)", "cpu_gmvae_10k", mnist10, ((0, "last"),))
    out += [(f"{system} (published)", data, acc, nmi, "", weights, source)
            for system, data, acc, nmi, weights, source in PEERS]
    return out


def table():
    lines = ["| system | data | ACC | NMI | time | needs released weights | results or source |",
             "|---|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows()]
    return "\n".join(lines)
