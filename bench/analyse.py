"""The analyser of finished runs: the ablation ladder, the chains' curves, the start maps.

    python bench/analyse.py ladder --runs=model/s1,model/s2 [--data_root=DIR] [--out=DIR]
    python bench/analyse.py ladder --merge=model/abl_a,model/abl_b --out=DIR
    python bench/analyse.py chain --runs=model/s1,model/s2 --out=bench/results/cpu_chain_10k/sweeps
    python bench/analyse.py maps --runs=model/s1 [--maps=umap10,otsne] [--round=R] [--data_root=DIR] [--out=DIR]
    python bench/analyse.py serket --runs=model/mlda_mm_s1,model/mlda_mm_s2 --data_root=DIR --out=DIR
    python bench/analyse.py rounds --runs=bench/results/cpu_chain_10k/chain_s1,... --out=DIR
    python bench/analyse.py restart --runs=model/s1,model/s2 --data_root=DIR --out=DIR
    python bench/analyse.py compare bench/results/A bench/results/B [--seeds=1,2] [--out=DIR]
    python bench/analyse.py readme

Runs nothing new of main.py: each command reads runs of it (one per seed, made with
labels) and writes results.json and table.md (and a plot) into --out. Labels only score.

ladder: on each run's round-0 latents (the VAE alone, prior N(0, I)):
  sklearn GMM  scikit-learn's GaussianMixture (full covariance, 5 k-means starts): a VAE, then EM;
  t-SNE + EM   the t-SNE map clustered by EM (maps.start.tsne_classes), no Gibbs sweep;
  Gibbs 100    100 Gibbs sweeps from a k-means start, no map (the last sweep's argmax);
  long chain   100 sweeps from the t-SNE map's start with its vote in every sweep (the last
               sweep's argmax), on the round-0 latents and on the last round's (a fresh map);
beside the run's own round 0 and last round (its metrics.csv). long_chain.png: the ACC of
every sweep of the long chains. --merge joins the results.json of several --out folders.
chain: per sweep of every round, what the runs' GMMs saved (npy/log_joint, sweep_acc, acc):
chain.png (medians over runs) and the sweep's own ACC at sweeps 1, 2, 5, ... 100 against
the reported ACC (the average after burn-in).
maps: every map of --maps embeds the latents of round --round (0 unless told), a GMM (EM,
10 restarts) clusters the embedding, then the default's chain runs from it (100 sweeps,
the map's vote, the average of sweeps 51-100); scores of both and the map's seconds, after
bench/calibrate.py's workload.
  tsne_subset   scikit-learn's t-SNE of at most 10,000 points, Gaussians for the rest
  tsne_500, tsne_350  the same t-SNE stopped after 500 or 350 of its 1,000 iterations
  otsne         openTSNE's FFT t-SNE of all points, 2-D (pip install openTSNE)
  umap2, umap10 UMAP of all points in 2 or 10 dimensions, 20 neighbours, seeded (one thread)
  umap10_nn10   the same with N2D's 10 neighbours; umap10_threads: unseeded, every core
  umap10_fit10k UMAP 10-D fitted on 10,000 random points, the others placed by its transform
serket: the last round of runs of Serket's models (--model=vae_gmm_mlda or vae_gmm_mlda_mm,
MNIST paired with digits): the classification's ACC and NMI (the MLDA's; the GMM's for
vae_gmm), the GMM's, the MM states' ACC, and for how many digits the MM's largest
transition, its states matched to labels, goes to the next digit's state (10/10: the cycle).
rounds: which round a rule without labels would report, from each run's metrics.csv (the
folders under bench/results/ hold them): the ELBO of every round, whether it rises every
round, the round of the largest ELBO and its ACC, beside round 0's, the last round's and
the best round's ACC (the best picked by labels: a bound for any rule, not a rule). Given
model/ folders (their npy/class_*.npy), also the share of points whose class changed since
the last round, and the round DEC's rule reports (the first under 5%, else the last).
restart: on every later round's saved latents of each run, its own chain (a fresh map)
beside chains started from the last round's classes, with and without its probabilities
voting: ACC, mean log joint, share of points that changed class (bench/compare.py).
compare: two results folders of bench/run.py run with the same seeds (A, then B): per
seed the round-0 and last-round ACC and NMI, mean +- SD, the paired difference B - A and
its one-sided 95% lower bound (mean - t SE), the worst seed and the walls (bench/compare.py).
readme: prints the README's results table from the committed folders (bench/readme.py).
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import gmm_module  # noqa: E402
import main  # noqa: E402
import tool  # noqa: E402
from calibrate import record  # noqa: E402
from common import load_many, save_results, save_table, spread  # noqa: E402
from compare import compare, compare_table, restart_run, restart_table, rounds_run, rounds_table, run_data  # noqa: E402,E501
from readme import table as readme_table  # noqa: E402
from maps import start  # noqa: E402
from run_folder import files  # noqa: E402

STAGES = ("sklearn GMM", "t-SNE + EM", "Gibbs 100", "long chain, round-0 latents", "round 0",
          "long chain, last round's latents", "last round")
SWEEPS = (1, 2, 5, 10, 20, 50, 100)


def chain_argmax(z, K, sweeps, rng, prior, start_classes, labels, bias=None):
    """A chain of `sweeps` sweeps from start_classes ("kmeans" or classes (N,); bias: a map's
    vote) reporting its last
    sweep's argmax: the classes, and per sweep that argmax's ACC and the log joint (model's
    own plus the messages', as the chain reported it before the two were told apart)."""
    acc = []
    last = {}

    def on_sweep(eta, _):
        last["eta"] = eta
        acc.append(tool.cluster_acc(labels, eta.argmax(axis=1)))
    if isinstance(start_classes, str):
        start_classes = start.start_chain(z, K, rng, start_classes)[0]
    gmm = gmm_module.GibbsGMM(K, prior, sweeps, 0).run(z, rng, start_classes, map_prob=bias, on_sweep=on_sweep)
    log_joint = np.add(gmm.history["log_joint"], gmm.history["log_messages"]).tolist()
    return last["eta"].argmax(axis=1), acc, log_joint


def scored(labels, classes, began, **more):
    return {**tool.cluster_scores(labels, classes), "seconds": round(time.time() - began, 1), **more}


def ladder_run(run, data_root):
    """{stage: scores} of one finished run (see the module docstring)."""
    from sklearn.mixture import GaussianMixture
    cfg, labels, z = run_data(run, data_root)
    rows = files.read_metrics(run)
    K, seed = cfg["K"], cfg["seed"]
    rng = np.random.default_rng([seed, 1])
    began = time.time()
    tsne_start = start.tsne_classes(z, K, rng)  # the map the round-0 long chain starts from too
    out = {"t-SNE + EM": scored(labels, tsne_start[0], began)}
    began = time.time()
    out["sklearn GMM"] = scored(labels, GaussianMixture(K, n_init=5, random_state=seed).fit(z).predict(z), began)
    began = time.time()
    out["Gibbs 100"] = scored(labels, chain_argmax(z, K, 100, rng, main.gmm_prior(cfg, z), "kmeans", labels)[0],
                              began)
    for stage, latents, made in (("long chain, round-0 latents", z, tsne_start),
                                 ("long chain, last round's latents", files.load_array(run, "z", len(rows) - 1), None)):
        began = time.time()
        classes, prob, _ = made or start.tsne_classes(latents, K, rng)
        got, acc, log_joint = chain_argmax(latents, K, 100, rng, main.gmm_prior(cfg, latents), classes, labels, prob)
        out[stage] = scored(labels, got, began, acc_per_sweep=acc, log_joint_per_sweep=log_joint)
    for stage, row in (("round 0", rows[0]), ("last round", rows[-1])):
        out[stage] = {k: row[k] for k in ("acc", "nmi", "ari", "seconds")}
    return {"run": run, "seed": seed, "n_data": len(labels), "rounds": len(rows), "stages": out}


def ladder_table(results):
    lines = ["| stage | runs | ACC | NMI | ARI | seconds |", "|---|---|---|---|---|---|"]
    for stage in STAGES:
        cell = lambda m, d=3: spread([r["stages"][stage][m] for r in results], d)  # noqa: E731
        lines.append(f"| {stage} | {len(results)} | {cell('acc')} | {cell('nmi')} | {cell('ari')} | "
                     f"{cell('seconds', 0)} |")
    return "\n".join(lines)


def ladder_plot(results, path):
    plt, fig, ax = figure(1)
    for stage, color in (("long chain, round-0 latents", "tab:red"), ("long chain, last round's latents", "tab:blue")):
        for i, r in enumerate(results):
            acc = r["stages"][stage]["acc_per_sweep"]
            ax[0].plot(np.arange(1, len(acc) + 1), acc, color=color, alpha=0.7,
                       label=stage.replace("long chain, ", "") if i == 0 else None)
    ax[0].set(xscale="log", xlabel="Gibbs sweep (the map's vote in every sweep)", ylabel="ACC of the sweep's argmax")
    save(plt, fig, ax, path)


def figure(n):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, n, figsize=(5.5 * n + 0.5, 4))
    return plt, fig, np.atleast_1d(axes)


def save(plt, fig, axes, path):
    for ax in axes:
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def chain_run(run):
    """One run's seed, sweeps and {round: {"log_joint", "sweep_acc", "acc": lists per sweep}}."""
    cfg = files.load_run_config(run)
    rounds = {str(it): {k: files.load_array(run, k, it).tolist() for k in ("log_joint", "sweep_acc", "acc")}
              for it in range(len(files.read_metrics(run)))}
    return {"run": os.path.basename(run), "seed": cfg["seed"], "gmm_iter": cfg["gmm_iter"], "rounds": rounds}


def chain_table(results):
    n = len(results[0]["rounds"]["0"]["acc"])
    shown = [s for s in SWEEPS if s <= n]
    lines = ["| round | " + " | ".join(f"sweep {s}" for s in shown) + " | reported (average) |",
             "|---" * (len(shown) + 2) + "|"]
    for it in sorted(results[0]["rounds"], key=int):
        per = [r["rounds"][it] for r in results]
        cells = [spread([p["sweep_acc"][s - 1] for p in per]) for s in shown]
        lines.append(f"| {it} | " + " | ".join(cells) + f" | {spread([p['acc'][-1] for p in per])} |")
    return "\n".join(lines)


def chain_plot(results, path):
    plt, fig, axes = figure(2)
    rounds = sorted(results[0]["rounds"], key=int)
    for it, colour in zip(rounds, plt.cm.viridis(np.linspace(0, 0.9, len(rounds)))):
        med = {k: np.median([r["rounds"][it][k] for r in results], axis=0) for k in ("sweep_acc", "acc", "log_joint")}
        x = np.arange(1, len(med["acc"]) + 1)
        axes[0].plot(x, med["sweep_acc"], ":", color=colour)
        axes[0].plot(x, med["acc"], "-", color=colour, label=f"round {it}")
        axes[1].plot(x, med["log_joint"] - med["log_joint"][-1], color=colour, label=f"round {it}")
    axes[0].set(xlabel="Gibbs sweep", ylabel="ACC (median over runs)",
                title="dotted: the sweep alone; solid: reported (average after burn-in)")
    axes[1].set(xlabel="Gibbs sweep", ylabel="log joint minus its last value", title="log joint per sweep")
    save(plt, fig, axes, path)


def em_on(e, K, seed):
    from sklearn.mixture import GaussianMixture
    g = GaussianMixture(K, n_init=10, random_state=seed).fit(e)
    return g.predict(e), g.predict_proba(e)


def umap_map(dim, neighbors, seeded=True, fit_max=None):
    """A MAPS entry: UMAP of the latents (seeded, one thread; or unseeded on every core; or
    fitted on fit_max random points and the rest placed by its transform), then EM."""
    def run(z, K, rng):
        import umap
        if seeded and fit_max is None:
            return start.umap_classes(z, K, rng, dim=dim, neighbors=neighbors)
        seed = int(rng.integers(2**31 - 1))
        if fit_max is None:
            return em_on(umap.UMAP(n_components=dim, n_neighbors=neighbors, min_dist=0.0).fit_transform(z), K, seed)
        subset = np.sort(rng.choice(len(z), min(fit_max, len(z)), replace=False))
        reducer = umap.UMAP(n_components=dim, n_neighbors=neighbors, min_dist=0.0, random_state=seed,
                            n_jobs=1).fit(z[subset])
        rest = np.setdiff1d(np.arange(len(z)), subset)
        e = np.empty((len(z), dim), dtype=np.float32)
        e[subset] = reducer.embedding_
        if len(rest):
            e[rest] = reducer.transform(z[rest])
        return em_on(e, K, seed)
    return run


def otsne_map(z, K, rng):
    from openTSNE import TSNE
    seed = int(rng.integers(2**31 - 1))
    return em_on(np.asarray(TSNE(n_components=2, perplexity=30, random_state=seed, n_jobs=1).fit(z)), K, seed)


def tsne_map(iterations):
    """A MAPS entry: the default's t-SNE map (maps.start.tsne_classes) of that many iterations, then EM."""
    return lambda z, K, rng: start.tsne_classes(z, K, rng, iterations=iterations)[:2]


MAPS = {"tsne_subset": tsne_map(1000), "tsne_500": tsne_map(500), "tsne_350": tsne_map(350), "otsne": otsne_map,
        "umap2": umap_map(2, 20), "umap10": umap_map(10, 20), "umap10_nn10": umap_map(10, 10),
        "umap10_threads": umap_map(10, 20, seeded=False), "umap10_fit10k": umap_map(10, 20, fit_max=10000)}


def maps_run(run, data_root, names, it=0):
    """{map: scores of the map + EM, of the chain from it, and the map's seconds} of one run's
    latents of round it."""
    cfg, labels, z = run_data(run, data_root, it)
    out = {}
    for name in names:
        rng = np.random.default_rng([cfg["seed"], 2])
        began = time.time()
        classes, prob = MAPS[name](z, cfg["K"], rng)
        seconds = time.time() - began
        gmm = gmm_module.GibbsGMM(cfg["K"], main.gmm_prior(cfg, z), 100, 50).run(z, rng, classes, map_prob=prob)
        out[name] = {"map_seconds": round(seconds, 1), "map": tool.cluster_scores(labels, classes),
                     "chain": tool.cluster_scores(labels, gmm.classes)}
        print(run, name, out[name], flush=True)
    return {"run": run, "seed": cfg["seed"], "round": it, "n_data": len(z), "maps": out}


def maps_table(results, names):
    lines = ["| map | images | latents of round | runs | map + EM ACC | chain ACC | chain NMI | map seconds |",
             "|---|---|---|---|---|---|---|---|"]
    images_and_round = lambda r: (r["n_data"], r.get("round", 0))  # noqa: E731 (older files: round 0)
    for n_data, it in sorted({images_and_round(r) for r in results}):
        for name in names:
            got = [r["maps"][name] for r in results if images_and_round(r) == (n_data, it) and name in r["maps"]]
            if got:
                lines.append(f"| {name} | {n_data:,} | {it} | {len(got)} | {spread([g['map']['acc'] for g in got])} | "
                             f"{spread([g['chain']['acc'] for g in got])} | {spread([g['chain']['nmi'] for g in got])} | "
                             f"{spread([g['map_seconds'] for g in got], 0)} |")
    return "\n".join(lines)


def cycle_steps(A, classes, labels):
    """How many digits d (of 10) have, after mapping the MM's classes to labels by the
    Hungarian map, their class's largest transition going to the class of digit d + 1."""
    cluster_of = {lab: c for c, lab in tool.cluster_label_map(labels, classes).items()}
    return sum(1 for d in range(10) if d in cluster_of and (d + 1) % 10 in cluster_of
               and A[cluster_of[d]].argmax() == cluster_of[(d + 1) % 10])


def serket_run(run, data_root):
    """The last round of a run of vae_gmm, vae_gmm_mlda or vae_gmm_mlda_mm (module docstring)."""
    cfg = files.load_run_config(run)
    rows = files.read_metrics(run)
    last, it = rows[-1], len(rows) - 1
    prefix = "" if cfg["model"] == "vae_gmm" else "mlda_"
    out = {"run": run, "model": cfg["model"], "seed": cfg["seed"], "acc": last[prefix + "acc"],
           "nmi": last[prefix + "nmi"], "gmm_acc": last["acc"]}
    if cfg["model"] == "vae_gmm_mlda_mm":
        _, labels, _ = main.load_data({**cfg, "data_root": data_root or cfg["data_root"]})
        mm = os.path.join(run, files.UPPER_DIRS["mm"])
        out.update(mm_acc=last["mm_acc"], cycle=cycle_steps(np.load(f"{mm}/transition_{it}.npy"),
                                                             np.load(f"{mm}/class_{it}.npy"), labels))
    return out


def serket_table(results):
    lines = ["| model | runs | ACC | NMI | GMM's ACC | MM states' ACC | digits whose largest MM transition is to the "
             "next digit |", "|---|---|---|---|---|---|---|"]
    for model in sorted({r["model"] for r in results}):
        rs = [r for r in results if r["model"] == model]
        mm = "mm_acc" in rs[0]
        lines.append(f"| {model} | {len(rs)} | {spread([r['acc'] for r in rs])} | {spread([r['nmi'] for r in rs])} | "
                     f"{spread([r['gmm_acc'] for r in rs])} | {spread([r['mm_acc'] for r in rs]) if mm else '-'} | "
                     f"{', '.join(str(r['cycle']) + '/10' for r in rs) if mm else '-'} |")
    return "\n".join(lines)


def main_bench(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=("ladder", "chain", "maps", "serket", "rounds", "restart", "compare", "readme"))
    p.add_argument("folders", nargs="*", help="compare: the two results folders, A then B")
    p.add_argument("--runs", default="", help="comma-separated folders of finished runs, one per seed")
    p.add_argument("--merge", default="", help="ladder: join the results.json of these --out folders")
    p.add_argument("--maps", default=",".join(MAPS), help=f"maps: comma-separated, of {', '.join(MAPS)}")
    p.add_argument("--round", type=int, default=0, help="maps: the round whose latents are mapped")
    p.add_argument("--data_root", default="", help="the data's folder, if not the one in the runs' config.json")
    p.add_argument("--seeds", default="", help="compare: only these seeds of both folders (comma-separated)")
    p.add_argument("--out", default="model/bench_analyse")
    args = p.parse_args(argv)
    if args.command in ("compare", "readme"):
        return other_command(p, args)
    runs = [r for r in args.runs.split(",") if r]
    if bool(runs) == bool(args.merge and args.command == "ladder"):
        p.error("give --runs (folders of finished runs), or for ladder only --merge (earlier --out folders)")
    try:
        if args.command == "ladder":
            results = sorted(load_many(args.merge), key=lambda r: r["seed"]) if args.merge else [
                ladder_run(run, args.data_root) for run in runs]
            save_results(args.out, results)
            save_table(args.out, ladder_table(results))
            ladder_plot(results, os.path.join(args.out, "long_chain.png"))
        elif args.command == "chain":
            results = [chain_run(run) for run in runs]
            save_results(args.out, results)
            chain_plot(results, os.path.join(args.out, "chain.png"))
            save_table(args.out, chain_table(results))
        elif args.command == "rounds":
            results = sorted((rounds_run(run) for run in runs), key=lambda r: r["seed"])
            save_results(args.out, results)
            save_table(args.out, rounds_table(results))
        elif args.command == "restart":
            results = sorted((restart_run(run, args.data_root) for run in runs), key=lambda r: r["seed"])
            save_results(args.out, results)
            save_table(args.out, restart_table(results))
        elif args.command == "serket":
            results = [serket_run(run, args.data_root) for run in runs]
            save_results(args.out, results)
            save_table(args.out, serket_table(results))
        else:
            names = args.maps.split(",")
            if set(names) - set(MAPS):
                p.error(f"--maps: unknown {sorted(set(names) - set(MAPS))}; known: {', '.join(MAPS)}")
            machine = record()
            results = [maps_run(run, args.data_root, names, args.round) for run in runs]
            save_results(args.out, [{"machine": machine}] + results)
            save_table(args.out, f"{machine['cpu']}, {machine['torch_threads']} threads, calibration "
                       f"{machine['calibration_s']} s\n\n" + maps_table(results, names))
    except (main.SettingError, main.RunError) as err:
        sys.exit(f"analyse.py: {err}")


def other_command(p, args):
    """compare and readme, which read results folders rather than runs."""
    if args.command == "readme":
        print(readme_table())
        return
    if len(args.folders) != 2:
        p.error("compare takes two results folders of bench/run.py, e.g. bench/results/A bench/results/B")
    try:
        seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else None
        text = compare_table(compare(*args.folders, seeds))
    except ValueError as err:
        sys.exit(f"analyse.py: {err}")
    if args.out != "model/bench_analyse":
        save_table(args.out, text)
    else:
        print(text)


if __name__ == "__main__":
    main_bench(sys.argv[1:])
