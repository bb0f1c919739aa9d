"""VAE+GMM alone against Serket's VAE+GMM+MLDA and VAE+GMM+MLDA+MM, same data and seeds.

    python bench/multimodal.py --data_root=DIR --seeds=1,2,3

Data: the bundled 3,000 pairs (an MNIST image and an sklearn digits sample of the same
digit, ordered 0, 1, ..., 9, 0, ...). Every model runs main.py's settings with
--mutual_iteration rounds; the table gives the last round's ACC and NMI of the model's
classification (the GMM's for VAE+GMM, the MLDA's for the others), median [min, max]
over seeds; for the full model also the ACC of the MM's states and for how many digits
the MM's transition matrix, after matching its states to labels, sends the digit's state
to the next digit's state (10/10: the whole cycle). The runs go to model/bench_multimodal/,
results.json and table.md to --out (model/bench_multimodal by default).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import main  # noqa: E402
import data  # noqa: E402
import stats  # noqa: E402
from common import PREVIOUS_DEFAULTS, save_results, save_table, spread  # noqa: E402

VARIANTS = ("vae_gmm", "vae_gmm_mlda", "vae_gmm_mlda_mm")


def cycle_steps(A, classes, labels):
    """How many digits d (of 10) have, after mapping the MM's classes to labels by the
    Hungarian map, their class's largest transition going to the class of digit d + 1."""
    to_label = stats.cluster_label_map(labels, classes)
    cluster_of = {lab: c for c, lab in to_label.items()}
    return sum(1 for d in range(10) if d in cluster_of and (d + 1) % 10 in cluster_of
               and A[cluster_of[d]].argmax() == cluster_of[(d + 1) % 10])


def run(variant, seed, images, counts, labels, args):
    cfg = main.parse_settings(PREVIOUS_DEFAULTS + [f"--model={variant}", f"--seed={seed}",
                                                   f"--data_root={args.data_root}",
                                                   f"--mutual_iteration={args.rounds}", "--tsne_points=0"])
    torch.manual_seed(seed)
    out = f"model/bench_multimodal/{variant}_s{seed}"
    if os.path.exists(out):
        import shutil
        shutil.rmtree(out)
    train_loader, all_loader = main.make_loaders(images, cfg, torch.device("cpu"))
    start = time.time()
    rows = main.train_model(cfg["mutual_iteration"], out, train_loader, all_loader, labels, cfg,
                            counts2=counts).rows
    last, it = rows[-1], cfg["mutual_iteration"] - 1
    prefix = "" if variant == "vae_gmm" else "mlda_"
    result = {"variant": variant, "seed": seed, "acc": last[prefix + "acc"], "nmi": last[prefix + "nmi"],
              "seconds": round(time.time() - start, 1)}
    if variant == "vae_gmm_mlda_mm":
        A = np.load(f"{out}/module004_mm/transition_{it}.npy")
        result["cycle"] = cycle_steps(A, np.load(f"{out}/module004_mm/class_{it}.npy"), labels)
        result["mm_acc"] = last["mm_acc"]
    print(json.dumps(result), flush=True)
    return result


def main_bench():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_root", default="./data")
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--out", default="model/bench_multimodal", help="folder of results.json and table.md")
    args = p.parse_args()
    images, counts, labels = data.load_digit_pairs(args.data_root)
    results = [run(v, s, images, counts, labels, args) for s in map(int, args.seeds.split(","))
               for v in VARIANTS]
    save_results(args.out, results)
    lines = ["| model | ACC | NMI | MM states' ACC | digits whose largest MM transition is to the next digit "
             "| seconds per run |", "|---|---|---|---|---|---|"]
    for v in VARIANTS:
        rs = [r for r in results if r["variant"] == v]
        cyc = ", ".join(f"{r['cycle']}/10" for r in rs) if "cycle" in rs[0] else "-"
        mm_acc = spread([r["mm_acc"] for r in rs]) if "mm_acc" in rs[0] else "-"
        lines.append(f"| {v} | {spread([r['acc'] for r in rs])} | {spread([r['nmi'] for r in rs])} | {mm_acc} | "
                     f"{cyc} | {np.median([r['seconds'] for r in rs]):.0f} |")
    save_table(args.out, "\n".join(lines))


if __name__ == "__main__":
    main_bench()
