"""Which manifold map should start the GMM? Maps of the same latents, side by side.

    python bench/maps.py --runs=model/s1,model/s2 [--data_root=DIR] [--maps=umap10,otsne]
        [--out=model/bench_maps]

On each finished run's round-0 latents (the VAE alone, prior N(0, I)), every map named in
--maps embeds the latents, a full-covariance GMM (EM, 10 restarts) clusters the
embedding, and then the default's GMM step runs from it: 100 Gibbs sweeps on the latents
with the map's vote in every sweep, reporting the argmax of the probabilities averaged
over sweeps 51-100. Scores of both (labels only score) and the map's own seconds (the
embedding and EM) go to results.json and table.md, with the machine and the calibration
workload's seconds (bench/calibrate.py) measured first. Maps:
  tsne_subset  scikit-learn's t-SNE of a 10,000-point subset, the other points classed by
               Gaussians (gmm_module.tsne_classes; the default before UMAP)
  otsne        openTSNE's FFT t-SNE of all points, 2-D (pip install openTSNE)
  umap2, umap10     UMAP of all points in 2 or 10 dimensions, 20 neighbours, seeded (one thread)
  umap10_nn10       the same with N2D's 10 neighbours
  umap10_threads    UMAP 10-D unseeded, on every core (not reproducible; what the seed costs)
  umap10_fit10k     UMAP 10-D fitted on 10,000 random points, the others placed by its transform
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
from calibrate import record  # noqa: E402
from common import save_results, save_table, spread  # noqa: E402


def em_on(e, K, seed):
    from sklearn.mixture import GaussianMixture
    g = GaussianMixture(K, n_init=10, random_state=seed).fit(e)
    return g.predict(e), g.predict_proba(e)


def umap_map(dim, neighbors, seeded=True):
    def run(z, K, rng):
        if seeded:
            return gmm_module.umap_classes(z, K, rng, dim=dim, neighbors=neighbors)
        import umap
        seed = int(rng.integers(2**31 - 1))
        e = umap.UMAP(n_components=dim, n_neighbors=neighbors, min_dist=0.0).fit_transform(z)
        return em_on(e, K, seed)
    return run


def umap_subset(z, K, rng, fit_max):
    """UMAP 10-D fitted on fit_max random points; the others placed by its transform."""
    import umap
    seed = int(rng.integers(2**31 - 1))
    subset = np.sort(rng.choice(len(z), min(fit_max, len(z)), replace=False))
    reducer = umap.UMAP(n_components=10, n_neighbors=20, min_dist=0.0, random_state=seed, n_jobs=1).fit(z[subset])
    rest = np.setdiff1d(np.arange(len(z)), subset)
    e = np.empty((len(z), 10), dtype=np.float32)
    e[subset] = reducer.embedding_
    if len(rest):
        e[rest] = reducer.transform(z[rest])
    return em_on(e, K, seed)


def otsne_map(z, K, rng):
    from openTSNE import TSNE
    seed = int(rng.integers(2**31 - 1))
    e = np.asarray(TSNE(n_components=2, perplexity=30, random_state=seed, n_jobs=1).fit(z))
    return em_on(e, K, seed)


MAPS = {
    "tsne_subset": lambda z, K, rng: gmm_module.tsne_classes(z, K, rng)[:2],
    "otsne": otsne_map,
    "umap2": umap_map(2, 20),
    "umap10": umap_map(10, 20),
    "umap10_nn10": umap_map(10, 10),
    "umap10_threads": umap_map(10, 20, seeded=False),
    "umap10_fit10k": lambda z, K, rng: umap_subset(z, K, rng, 10000),
}


def compare(run, data_root, names):
    """{map: scores of the map + EM, of the chain from it, and the map's seconds} for one run."""
    cfg = run_dir.load_run_config(run)
    cfg = {**cfg, "data_root": data_root or cfg["data_root"]}
    _, labels, _ = main.load_data(cfg)
    z = run_dir.load_array(run, "z", 0)
    if labels is None or len(labels) != len(z):
        sys.exit(f"bench/maps.py: {run} has {len(z)} latents but the data gave other labels; pass --data_root=DIR")
    out = {}
    for name in names:
        rng = np.random.default_rng([cfg["seed"], 2])
        began = time.time()
        classes, prob = MAPS[name](z, cfg["K"], rng)
        seconds = time.time() - began
        gmm = gmm_module.fit_gibbs(z, cfg["K"], 100, rng, main.gmm_prior(cfg, z), classes=classes,
                                   bias=prob, assign="mean", burn_in=50)
        out[name] = {"map_seconds": round(seconds, 1), "map": stats.cluster_scores(labels, classes),
                     "chain": stats.cluster_scores(labels, gmm.classes)}
        print(run, name, out[name], flush=True)
    return {"run": run, "seed": cfg["seed"], "n_data": len(z), "maps": out}


def table(results, names):
    lines = ["| map | images | runs | map + EM ACC | chain ACC | chain NMI | map seconds |",
             "|---|---|---|---|---|---|---|"]
    for n_data in sorted({r["n_data"] for r in results}):
        rs = [r for r in results if r["n_data"] == n_data]
        for name in names:
            got = [r["maps"][name] for r in rs if name in r["maps"]]
            if got:
                lines.append(f"| {name} | {n_data:,} | {len(got)} | {spread([g['map']['acc'] for g in got])} | "
                             f"{spread([g['chain']['acc'] for g in got])} | {spread([g['chain']['nmi'] for g in got])} | "
                             f"{spread([g['map_seconds'] for g in got], 0)} |")
    return "\n".join(lines)


def main_bench():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="comma-separated folders of finished runs")
    p.add_argument("--maps", default=",".join(MAPS), help=f"comma-separated, of {', '.join(MAPS)}")
    p.add_argument("--data_root", default="")
    p.add_argument("--out", default="model/bench_maps")
    args = p.parse_args()
    names = args.maps.split(",")
    if set(names) - set(MAPS):
        p.error(f"--maps: unknown {sorted(set(names) - set(MAPS))}; known: {', '.join(MAPS)}")
    machine = record()
    results = [compare(run, args.data_root, names) for run in args.runs.split(",")]
    save_results(args.out, [{"machine": machine}] + results)
    save_table(args.out, f"{machine['cpu']}, {machine['torch_threads']} threads, calibration "
               f"{machine['calibration_s']} s\n\n" + table(results, names))


if __name__ == "__main__":
    main_bench()
