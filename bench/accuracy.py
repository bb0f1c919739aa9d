"""Clustering accuracy of VAE+GMM mutual learning over seeds, on 10,000 and on 70,000 MNIST images.

    python bench/accuracy.py --data_root=DIR                     # everything (hours on a CPU)
    python bench/accuracy.py --data_root=DIR --n_data=10000 --recipes=default
    python bench/accuracy.py --data_root=DIR --n_data=70000 --recipes=default --device=cuda

For every recipe, data size and seed it runs main.py's train_model and records round 0
(the VAE alone, then the GMM: the two-stage baseline) and the last round (mutual
learning): ACC, NMI, ARI, ELBO and seconds. A second baseline runs on the same round-0
latents: sklearn's GaussianMixture (full covariance, n_init=5 k-means starts, the fit with
the highest likelihood kept). Labels only score; nothing is selected with them.

Recipes: "default" is main.py's defaults (conv VAE, 750,000 images in round 0 in 15 to 75
epochs, a fifth of that in each later round: 75 and 15 epochs of 10,000 images, 15 and 3
of 70,000; a Gibbs chain of 100 sweeps per round, biased by the cluster probabilities of
a UMAP map of all latents, reporting the argmax of the assignment probabilities averaged
over sweeps 51-100, 6 rounds); "tsne_chain" the default before it (a t-SNE map of 10,000
latents, 750,000 and 150,000 images: 11 and 2 epochs of 70,000); "one_sweep" the one
before that (1 sweep, its argmax); "default_150" the one before that, one sweep and 1.5
million images in every round (150 epochs of 10,000 images, 21 of 70,000); "no_map"
that recipe without the map's bias (the sweep sees the latents alone); "fast_50_10" 50
epochs in round 0 and 10 in each later round (a candidate of issue 23); "dense" the defaults they replaced (the dense 784-256-12 VAE, 150 epochs a round at any size, 2 sweeps); "long_chain" the
defaults before those (dense, 100 sweeps, the last sample reported and sent, 4 rounds); "previous" is
main.py's defaults before this benchmark chose any (bench/common.PREVIOUS_DEFAULTS);
"original" is the original repository's hyperparameters (784-256-12, batch 10, 100
epochs, W0 = 0.55 I, nu0 = D, alpha0 = 0.3, a new VAE and a GMM started from the prior
every round, 2 rounds, 100 sweeps, sampled classes) with its defects fixed;
"original_code" the same with the original code's defects and habits kept (main.py's
original_defects: the prior row of the batch number for a whole batch and a KL weight of
1/batch after round 0, unshuffled batches; sampled latents sent to the GMM).
Results go to model/bench_accuracy/results.json (rows of earlier runs of other recipes,
sizes or seeds are kept) and the table to model/bench_accuracy/table.md. Seeds can run as
parallel processes, each with its own --out folder; --merge then copies their rows into
model/bench_accuracy and prints the table. Every row records the device it ran on.
"""
import argparse
import json
import os
import shutil
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import data  # noqa: E402
import main  # noqa: E402
import settings  # noqa: E402
import stats  # noqa: E402
from common import PREVIOUS_DEFAULTS, load_many, load_results, save_results, save_table, spread  # noqa: E402

def epochs_for(images):
    """Settings that train `images` images in every round, whatever n_data (a recipe's function)."""
    def recipe(n_data):
        epochs = settings.epochs_for_images(images, n_data)
        return [f"--vae_epochs={epochs}", f"--mutual_epochs={epochs}"]
    return recipe


def recipe_settings(recipe, n_data):
    """The --name=value list of a recipe of RECIPES for n_data images."""
    value = RECIPES[recipe]
    return value(n_data) if callable(value) else value


ONE_SWEEP = ["--gmm_iter=1", "--gmm_assign=argmax"]  # the GMM step of the defaults before the 100-sweep chain
TSNE = ["--gmm_init=tsne"]  # the start of every default before the UMAP map


def tsne_chain(n_data):
    """The default before the UMAP map: a 10,000-point t-SNE map, 750,000 images in round 0
    and 150,000 in each later round (75 and 15 epochs of 10,000; 11 and 2 of 70,000)."""
    return TSNE + [f"--vae_epochs={settings.epochs_for_images(750_000, n_data)}",
                   f"--mutual_epochs={settings.epochs_for_images(150_000, n_data)}"]


RECIPES = {
    "default": [],
    "tsne_chain": tsne_chain,
    "one_sweep": lambda n_data: tsne_chain(n_data) + ONE_SWEEP,
    "default_150": lambda n_data: epochs_for(1_500_000)(n_data) + ONE_SWEEP + TSNE,
    "no_map": lambda n_data: epochs_for(1_500_000)(n_data) + ONE_SWEEP + TSNE + ["--gmm_map_bias=False"],
    "fast_50_10": ["--vae_epochs=50", "--mutual_epochs=10"] + ONE_SWEEP + TSNE,
    "dense": ["--architecture=dense", "--gmm_iter=2", "--gmm_assign=argmax", "--vae_epochs=150", "--mutual_epochs=150",
              "--gmm_map_bias=False"],
    "long_chain": ["--architecture=dense", "--vae_epochs=150", "--mutual_epochs=150", "--gmm_iter=100", "--gmm_assign=sample",
                   "--mutual_iteration=4", "--gmm_map_bias=False"],
    "previous": PREVIOUS_DEFAULTS,
    "original": ["--architecture=dense", "--hidden_dims=256", "--latent_dim=12", "--batch_size=10", "--vae_epochs=100",
                 "--mutual_epochs=100",
                 "--gmm_W0=0.55", "--gmm_nu0=12", "--gmm_alpha0=0.3", "--gmm_init=prior",
                 "--warm_start_vae=False", "--warm_start_gmm=False", "--mutual_iteration=2",
                 "--gmm_iter=100", "--gmm_assign=sample"],
}
RECIPES["original_code"] = RECIPES["original"] + ["--send=sample", "--original_defects=True"]
RECIPES["original_code_random_start"] = RECIPES["original_code"] + ["--gmm_init=random"]
OUT = "model/bench_accuracy"


def sklearn_gmm(z, labels, K, seed):
    """The two-stage baseline with EM: scores of a full-covariance GaussianMixture on z."""
    from sklearn.mixture import GaussianMixture
    start = time.time()
    classes = GaussianMixture(K, covariance_type="full", n_init=5, random_state=seed).fit(z).predict(z)
    return {**stats.cluster_scores(labels, classes), "seconds": round(time.time() - start, 1)}


def device_name(device):
    """'cpu', or the GPU's name for a CUDA device (recorded with every result)."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def run(recipe, n_data, seed, images, labels, rounds, device, out_root, resume=False, data_root="./data"):
    """One pipeline run; returns a result dict with round 0, the last round and sklearn's GMM.

    resume: continue a run of the same settings found in its folder after its last complete
    round (main.py's --resume), instead of starting it again. data_root: where images came
    from, saved in the run's config.json for bench/ablation.py."""
    cfg = main.parse_settings(recipe_settings(recipe, n_data) + [
        f"--seed={seed}", "--tsne_points=0", f"--n_data={n_data}", f"--mutual_iteration={rounds}",
        f"--data_root={data_root}"])
    out = f"{out_root}/{recipe}_{n_data}_s{seed}"
    resume = resume and os.path.exists(f"{out}/metrics.csv")
    if not resume:
        shutil.rmtree(out, ignore_errors=True)
    train_loader, all_loader = main.make_loaders(images, cfg, device)
    rows = main.train_model(cfg["mutual_iteration"], out, train_loader, all_loader, labels, cfg,
                            resume=resume).rows
    # best_sweep_acc: the highest ACC of the round's sweeps, what the original code printed
    pick = lambda r: {**{k: r[k] for k in ("acc", "nmi", "ari", "elbo", "seconds")},  # noqa: E731
                      "best_sweep_acc": float(np.max(np.load(f"{out}/npy/acc_{r['round']}.npy")))}
    total = round(sum(r["seconds"] for r in rows), 1)
    result = {"recipe": recipe, "n_data": n_data, "seed": seed, "rounds": rounds, "device": device_name(device),
              "round0": pick(rows[0]), "last": {**pick(rows[-1]), "seconds": total},
              "sklearn_gmm": sklearn_gmm(np.load(f"{out}/npy/z_0.npy"), labels, cfg["K"], seed)}
    print(json.dumps(result), flush=True)
    return result


def groups(results, n_data):
    """(recipe, device) pairs with rows of size n_data: recipes in RECIPES order, the CPU first."""
    pairs = {(r["recipe"], r.get("device", "cpu")) for r in results if r["n_data"] == n_data}
    return sorted(pairs, key=lambda p: (list(RECIPES).index(p[0]), p[1] != "cpu", p[1]))


def table(results):
    """Markdown table: median [min, max] over seeds of every recipe, size and stage."""
    lines = ["| data | recipe | device | stage | seeds | ACC | NMI | ARI | ELBO | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    stages = (("round0", "round 0: VAE, then GMM"), ("sklearn_gmm", "sklearn GMM on round-0 latents"),
              ("last", "last round: mutual learning"))
    for n_data in sorted({r["n_data"] for r in results}):
        for recipe, device in groups(results, n_data):
            rs = [r for r in results if r["n_data"] == n_data and r["recipe"] == recipe
                  and r.get("device", "cpu") == device]
            for key, name in stages:
                cell = lambda m, d=3: spread([r[key][m] for r in rs], d) if all(  # noqa: E731
                    r[key].get(m, "") != "" for r in rs) else ""
                label = name if key != "last" else (f"round {rs[0]['rounds'] - 1}: mutual learning "
                                                    "(seconds: all rounds)")
                lines.append(f"| {n_data} | {recipe} | {device} | {label} | {len(rs)} | {cell('acc')} | "
                             f"{cell('nmi')} | {cell('ari')} | {cell('elbo', 1)} | {cell('seconds', 0)} |")
            wins = sum(r["last"]["acc"] > r["round0"]["acc"] for r in rs)
            lines.append(f"| {n_data} | {recipe} | {device} | last round ACC > round 0 ACC | {wins}/{len(rs)} "
                         "| | | | | |")
    return "\n".join(lines)


def merge(results, new):
    """results with the rows of new added; a new row replaces one of the same recipe, size, seed, device."""
    key = lambda r: (r["recipe"], r["n_data"], r["seed"], r.get("device", "cpu"))  # noqa: E731
    keys = {key(r) for r in new}
    return [r for r in results if key(r) not in keys] + list(new)


def main_bench():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_root", default="./data")
    p.add_argument("--seeds", default="1,2,3,4,5")
    p.add_argument("--n_data", default="10000,70000", help="data sizes, comma separated")
    p.add_argument("--recipes", default=",".join(RECIPES), help="comma separated names of RECIPES")
    p.add_argument("--rounds", type=int, default=0, help="mutual_iteration; 0: each recipe's default")
    p.add_argument("--device", default="auto", help="'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N'")
    p.add_argument("--out", default=OUT, help="folder of the runs and results.json (one per parallel process)")
    p.add_argument("--merge", default="", help="comma separated --out folders whose rows to copy into "
                   "--out; runs nothing")
    p.add_argument("--resume", action="store_true", help="continue runs stopped part-way (their folders "
                   "under --out) after their last complete round, instead of starting them again")
    p.add_argument("--table_only", action="store_true", help="print the table of the saved results, run nothing")
    args = p.parse_args()
    recipes = args.recipes.split(",")
    if not set(recipes) <= set(RECIPES):
        p.error(f"--recipes: choose among {', '.join(RECIPES)}")
    seeds, sizes = [int(s) for s in args.seeds.split(",")], [int(n) for n in args.n_data.split(",")]
    try:
        device = main.pick_device(args.device)
    except main.SettingError as err:
        p.error(f"--device: {err}")
    out = args.out
    results = load_results(out)
    if args.merge:
        rows = load_many(args.merge)
        if not rows:
            p.error(f"--merge: no results.json rows in {args.merge}")
        results = merge(results, rows)
        save_results(out, results)
    for n_data in [] if args.table_only or args.merge else sizes:
        images, labels = data.load_mnist(args.data_root, n_data)
        if len(images) != n_data:
            sys.exit(f"bench/accuracy.py: only {len(images)} images were loaded, not {n_data}; "
                     "point --data_root at the full MNIST")
        for recipe in recipes:
            rounds = args.rounds or main.parse_settings(recipe_settings(recipe, n_data))["mutual_iteration"]
            for seed in seeds:
                results = merge(results, [run(recipe, n_data, seed, images, labels, rounds, device, out,
                                              args.resume, args.data_root)])
                save_results(out, results)
    save_table(out, table(results))


if __name__ == "__main__":
    main_bench()
