"""Comparisons of finished runs for bench/analyse.py: the paired comparison of two recipes
run with the same seeds (compare), and the rounds a rule without labels would report (rounds)."""
import json
import os
import sys

import numpy as np
from scipy import stats

import gmm_module
import main
import tool
from common import load_results, spread
from run_folder import files


def run_data(run, data_root, it=0):
    """A finished run's settings, labels and round it's latents (N, D), its data read again
    (from data_root when given); exits with one line when the labels do not fit the latents."""
    cfg = files.load_run_config(run)
    cfg = {**cfg, "data_root": data_root or cfg["data_root"]}
    _, labels, _ = main.load_data(cfg)
    z = files.load_array(run, "z", it)
    if labels is None or len(labels) != len(z):
        sys.exit(f"bench/analyse.py: {run} has {len(z)} latents but {cfg['data_root']} gave "
                 f"{0 if labels is None else len(labels)} labels; pass --data_root=DIR, the folder "
                 "the run was trained from")
    return cfg, labels, z


def restart_run(run, data_root):
    """Per round r >= 1 of a finished run, on that round's saved latents: the run's own chain
    (started from a fresh map, the map voting) beside chains of as many sweeps from round r - 1's
    classes, without a vote and with round r - 1's averaged probabilities (eta) as the vote;
    each chain's ACC and its mean log joint over the reported sweeps (no labels), the
    criterion a label-free choice between the starts could use. Issue 46's probe."""
    cfg, labels, _ = run_data(run, data_root)
    rows, sweeps = files.read_metrics(run), cfg["gmm_iter"]
    out = {"run": os.path.basename(run), "seed": cfg["seed"], "dataset": cfg["dataset"], "rounds": []}
    for it in range(1, len(rows)):
        z = files.load_array(run, "z", it)
        before, eta_before = files.load_array(run, "class", it - 1), files.load_array(run, "eta", it - 1)
        fresh_joint = files.load_array(run, "log_joint", it)[sweeps // 2:]
        got = {"round": it, "fresh map": {"acc": rows[it]["acc"], "log_joint": float(np.mean(fresh_joint)),
                                          "changed": float(np.mean(files.load_array(run, "class", it) != before))}}
        for name, vote in (("previous classes", None), ("previous classes, its eta voting", eta_before)):
            rng = np.random.default_rng([cfg["seed"], it, 46])
            gmm = gmm_module.GibbsGMM(cfg["K"], main.gmm_prior(cfg, z), sweeps, sweeps // 2).run(
                z, rng, before, map_prob=vote)
            got[name] = {"acc": tool.cluster_acc(labels, gmm.classes),
                         "log_joint": float(np.mean(gmm.history["log_joint"][sweeps // 2:])),
                         "changed": float(np.mean(gmm.classes != before))}
        out["rounds"].append(got)
    return out


def restart_table(results):
    """Markdown of restart_run's results: per run and round, ACC / mean log joint / share of
    points that changed class against the last round, for each start, and which of the two
    chains with a vote has the higher mean log joint (the label-free choice of
    later_start="likelihood"; the chain without a vote always has the highest)."""
    starts = ("fresh map", "previous classes", "previous classes, its eta voting")
    lines = ["| run | round | " + " | ".join(f"{s}: ACC, log joint, changed" for s in starts) +
             " | higher log joint, the voted chains |", "|---|---|" + "---|" * (len(starts) + 1)]
    for r in results:
        for got in r["rounds"]:
            cells = [f"{got[s]['acc']:.4f}, {got[s]['log_joint']:.0f}, {got[s]['changed']:.1%}" for s in starts]
            pick = "fresh" if got["fresh map"]["log_joint"] >= got[starts[2]]["log_joint"] else "previous"
            lines.append(f"| {r['run']} | {got['round']} | " + " | ".join(cells) + f" | {pick} |")
    return "\n".join(lines)


def paired_seeds(a, b):
    """{seed: (row of a, row of b)} of two results.json lists run with the same seeds; a
    ValueError naming the seeds that only one of them ran."""
    seeds_a, seeds_b = ({r["seed"]: r for r in rows} for rows in (a, b))
    if set(seeds_a) != set(seeds_b):
        raise ValueError(f"the folders ran other seeds: {sorted(set(seeds_a) - set(seeds_b))} only in the first, "
                         f"{sorted(set(seeds_b) - set(seeds_a))} only in the second; compare runs of the same seeds")
    return {s: (seeds_a[s], seeds_b[s]) for s in sorted(seeds_a)}


def paired_difference(diffs, confidence=0.95):
    """Mean of paired differences (n,), its standard error and the one-sided lower bound
    mean - t * SE with t the Student quantile of n - 1 degrees of freedom (1.83 for 10)."""
    diffs = np.asarray(diffs, dtype=float)
    n = len(diffs)
    se = diffs.std(ddof=1) / np.sqrt(n) if n > 1 else float("nan")
    t = stats.t.ppf(confidence, n - 1) if n > 1 else float("nan")
    return {"n": n, "mean": float(diffs.mean()), "se": float(se), "t": float(t), "lower": float(diffs.mean() - t * se)}


def machine_line(folder):
    """'CPU (capability), threads, torch; calibration s' from folder/calibration.json, or ''."""
    path = os.path.join(folder, "calibration.json")
    if not os.path.exists(path):
        return "no calibration.json"
    with open(path) as f:
        m = json.load(f)
    return (f"{m['cpu']} ({m.get('cpu_capability', '?')}), {m.get('torch_threads', '?')} threads, "
            f"torch {m.get('torch', '?')}; calibration {m['calibration_s']} s")


def compare(folder_a, folder_b, seeds=None):
    """The paired comparison of two bench/run.py results folders (same seeds, or only the
    given seeds of each): a dict of per-seed rows, each side's mean and SD, the paired
    difference of the last round's ACC and NMI (second minus first) with its one-sided 95%
    lower bound, and the worst seeds."""
    rows = [[r for r in load_results(f) if seeds is None or r["seed"] in seeds] for f in (folder_a, folder_b)]
    pairs = paired_seeds(*rows)
    if not pairs:
        raise ValueError(f"no runs in {folder_a} or {folder_b} (results.json)")
    side = {}
    for k, folder in enumerate((folder_a, folder_b)):
        rows = [p[k] for p in pairs.values()]
        side[folder] = {f"{stage} {m}": (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0)
                        for stage in ("round0", "last") for m in ("acc", "nmi")
                        for v in [[r[stage][m] for r in rows]]}
        worst = min(rows, key=lambda r: r["last"]["acc"])
        side[folder]["worst"] = (worst["seed"], worst["last"]["acc"])
        walls = [r["wall_seconds"] for r in rows if r.get("wall_seconds")]
        side[folder]["wall_minutes"] = [w / 60 for w in walls]
        side[folder]["multiples"] = [r["calibration_multiple"] for r in rows if r.get("calibration_multiple")]
        side[folder]["machine"] = machine_line(folder)
    sizes = {r["n_data"] for p in pairs.values() for r in p}
    if len(sizes) > 1:
        raise ValueError(f"the folders ran other numbers of images ({sorted(sizes)}); compare like with like")
    diff = {m: paired_difference([b["last"][m] - a["last"][m] for a, b in pairs.values()]) for m in ("acc", "nmi")}
    return {"a": folder_a, "b": folder_b, "pairs": pairs, "side": side, "diff": diff}


def compare_table(c):
    """Markdown of compare(): per seed, mean +- SD, the paired difference, the worst seed, walls."""
    name = lambda f: os.path.basename(os.path.normpath(f))  # noqa: E731
    a, b = c["a"], c["b"]
    cpus = [c["side"][f]["machine"].split(";")[0] for f in (a, b)]
    lines = [f"A = `{name(a)}`: {c['side'][a]['machine']}", f"B = `{name(b)}`: {c['side'][b]['machine']}", ""]
    if cpus[0] != cpus[1]:
        lines += ["**A and B ran on other CPU kinds or thread counts: their arithmetic differs, so this is "
                  "no paired comparison on one machine.**", ""]
    lines += [
             "| seed | A round 0 ACC | A last ACC | A last NMI | B round 0 ACC | B last ACC | B last NMI | B - A last ACC |",
             "|---|---|---|---|---|---|---|---|"]
    for seed, (ra, rb) in c["pairs"].items():
        lines.append(f"| {seed} | {ra['round0']['acc']:.4f} | {ra['last']['acc']:.4f} | {ra['last']['nmi']:.4f} | "
                     f"{rb['round0']['acc']:.4f} | {rb['last']['acc']:.4f} | {rb['last']['nmi']:.4f} | "
                     f"{rb['last']['acc'] - ra['last']['acc']:+.4f} |")
    ms = lambda f, k: "{:.4f} +- {:.4f}".format(*c["side"][f][k])  # noqa: E731
    lines.append(f"| mean +- SD | {ms(a, 'round0 acc')} | {ms(a, 'last acc')} | {ms(a, 'last nmi')} | "
                 f"{ms(b, 'round0 acc')} | {ms(b, 'last acc')} | {ms(b, 'last nmi')} | |")
    lines += ["", "| paired, B - A (last round) | mean | SE | one-sided 95% lower bound (mean - t SE) | t | seeds |",
              "|---|---|---|---|---|---|"]
    for m, d in c["diff"].items():
        lines.append(f"| {m.upper()} | {d['mean']:+.4f} | {d['se']:.4f} | {d['lower']:+.4f} | {d['t']:.2f} | {d['n']} |")
    lines += ["", "| | worst seed (last ACC) | rounds gain (mean last - round 0 ACC) | wall minutes, median [min, max] "
              "| x calibration |", "|---|---|---|---|---|"]
    for label, f in (("A", a), ("B", b)):
        s = c["side"][f]
        walls = spread(s["wall_minutes"], 1) if s["wall_minutes"] else "not timed"
        multiples = spread(s["multiples"], 1) if s["multiples"] else ""
        lines.append(f"| {label} | seed {s['worst'][0]}: {s['worst'][1]:.4f} | "
                     f"{s['last acc'][0] - s['round0 acc'][0]:+.4f} | {walls} | {multiples} |")
    return "\n".join(lines)


CHANGED_TOL = 0.05  # DEC's stopping rule with this tolerance: the first later round changing fewer points


def rounds_run(run):
    """One run's ACC, NMI and ELBO per round, the round of the largest ELBO and, where the
    run folder holds its classes (npy/class_{it}.npy, a model/ folder), the share of points
    whose class differs from the last round's (None otherwise; round 0: None)."""
    cfg = files.load_run_config(run)
    rows = files.read_metrics(run)
    elbo = [r["elbo"] for r in rows]
    changed = None
    if all(os.path.exists(os.path.join(run, "npy", f"class_{it}.npy")) for it in range(len(rows))):
        classes = [files.load_array(run, "class", it) for it in range(len(rows))]
        changed = [None] + [float(np.mean(b != a)) for a, b in zip(classes, classes[1:])]
    return {"run": os.path.basename(run), "seed": cfg["seed"], "dataset": cfg["dataset"], "n_data": cfg["n_data"],
            "acc": [r["acc"] for r in rows], "nmi": [r["nmi"] for r in rows], "elbo": elbo,
            "elbo_rises": all(b > a for a, b in zip(elbo, elbo[1:])), "max_elbo_round": int(np.argmax(elbo)),
            "changed": changed, "dec_round": dec_round(changed, len(rows))}


def dec_round(changed, n_rounds):
    """The round DEC's rule reports: the first later round whose share of changed points is
    below CHANGED_TOL, else the last; None without the shares."""
    if changed is None:
        return None
    return next((it for it in range(1, n_rounds) if changed[it] < CHANGED_TOL), n_rounds - 1)


def rounds_table(results):
    n = len(results[0]["acc"])
    lines = ["| run | seed | " + " | ".join(f"ACC round {i}" for i in range(n)) +
             " | ELBO rises every round | round of the largest ELBO | its ACC |", "|---" * (n + 5) + "|"]
    for r in results:
        lines.append(f"| {r['run']} | {r['seed']} | " + " | ".join(f"{a:.4f}" for a in r["acc"]) +
                     f" | {'yes' if r['elbo_rises'] else 'no'} | {r['max_elbo_round']} | "
                     f"{r['acc'][r['max_elbo_round']]:.4f} |")
    with_changed = all(r.get("changed") for r in results)  # every run read from a model/ folder
    pick = {"round 0": [r["acc"][0] for r in results], "last round": [r["acc"][-1] for r in results],
            "largest ELBO": [r["acc"][r["max_elbo_round"]] for r in results],
            **({f"DEC's rule (first later round changing < {CHANGED_TOL:.0%} of points, else the last)":
                [r["acc"][r["dec_round"]] for r in results]} if with_changed else {}),
            "best round by labels (a bound, not a rule)": [max(r["acc"]) for r in results]}
    if with_changed:
        lines += ["", "| run | " + " | ".join(f"changed in round {i}" for i in range(1, n)) + " | DEC's round |",
                  "|---" * (n + 1) + "|"]
        lines += [f"| {r['run']} | " + " | ".join(f"{c:.1%}" for c in r["changed"][1:]) + f" | {r['dec_round']} |"
                  for r in results]
    lines += ["", "| reported round | ACC, median [min, max] |", "|---|---|"]
    lines += [f"| {k} | {spread(v)} |" for k, v in pick.items()]
    return "\n".join(lines)
