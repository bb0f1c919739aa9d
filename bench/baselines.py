"""VAE+GMM mutual learning (dense and conv VAE) against the GMVAE baseline: same data, same seeds.

    python bench/baselines.py --data_root=DIR --seeds=1,2,3
    python bench/baselines.py --data_root=DIR --models="GMVAE, conv"   # add or redo rows

Every model runs main.py's default settings on the first --n_data MNIST images (only
--model and --architecture differ; t-SNE plots off). The table gives the last round's
ACC, NMI and ARI and the training seconds, median [min, max] over seeds. Outputs go to
model/bench_baselines/; with --models only those rows are (re)run and the results of the
other models already in model/bench_baselines/results.json are kept.
"""
import argparse
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import data  # noqa: E402
import main  # noqa: E402
from common import PREVIOUS_DEFAULTS, load_results, save_results, spread  # noqa: E402

MODELS = {"VAE+GMM, dense VAE": ["--model=vae_gmm"],
          "VAE+GMM, conv VAE": ["--model=vae_gmm", "--architecture=conv"],
          "GMVAE, dense": ["--model=gmvae"],
          "GMVAE, conv": ["--model=gmvae", "--architecture=conv"]}


def run(name, seed, images, labels, args):
    cfg = main.parse_settings(PREVIOUS_DEFAULTS + MODELS[name]
                              + [f"--seed={seed}", "--tsne_points=0", f"--n_data={args.n_data}"])
    out = f"model/bench_baselines/{name.replace(', ', '_').replace(' ', '_').replace('+', '')}_s{seed}"
    shutil.rmtree(out, ignore_errors=True)
    torch.manual_seed(seed)
    train_loader, all_loader = main.make_loaders(images, cfg, torch.device("cpu"))
    if cfg["model"] == "gmvae":
        rows = main.train_gmvae(out, train_loader, all_loader, labels, cfg)
    else:
        rows = main.train_model(cfg["mutual_iteration"], out, train_loader, all_loader, labels, cfg).rows
    result = {"model": name, "seed": seed, **{k: rows[-1][k] for k in ("acc", "nmi", "ari")},
              "seconds": sum(r["seconds"] for r in rows)}
    print(json.dumps(result), flush=True)
    return result


def main_bench():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_root", default="./data")
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--n_data", type=int, default=10000)
    p.add_argument("--models", default=";".join(MODELS), help="names of MODELS separated by ';'")
    args = p.parse_args()
    chosen = [m.strip() for m in args.models.split(";")]
    if not set(chosen) <= set(MODELS):
        p.error(f"--models: choose among {'; '.join(MODELS)}")
    images, labels = data.load_mnist(args.data_root, args.n_data)
    kept = [r for r in load_results("model/bench_baselines") if r["model"] not in chosen]
    results = kept + [run(m, s, images, labels, args) for s in map(int, args.seeds.split(",")) for m in chosen]
    save_results("model/bench_baselines", results)
    print("\n| model | ACC | NMI | ARI | seconds |")
    print("|---|---|---|---|---|")
    for m in MODELS:
        rs = [r for r in results if r["model"] == m]
        if rs:
            print(f"| {m} | {spread([r['acc'] for r in rs])} | {spread([r['nmi'] for r in rs])} | "
                  f"{spread([r['ari'] for r in rs])} | {spread([r['seconds'] for r in rs], 0)} |")


if __name__ == "__main__":
    main_bench()
