"""Finished main.py runs side by side: wall time, images trained per second, round 0 and the
last round's ACC, NMI, ARI (median [min, max] over the runs of each recipe).

    python bench/run_table.py --runs=model/fast_s1,model/fast_s2 --walls=model/fast/walls.txt \
        --out=bench/results/cpu_default_10k

--walls holds "seed seconds" lines (bench/time_main.sh writes them, and calibration.json
beside them: the machine and bench/calibrate.py's seconds). Copies each run's config.json
and metrics.csv into --out/<run name>/ (the data folder written as DIR) and writes
results.json and table.md (wall times
also as multiples of the calibration workload).
"""
import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import run_dir  # noqa: E402
import settings  # noqa: E402
from common import save_results, save_table, spread  # noqa: E402


def summarise(run, walls, calibration_s=None):
    """One run's row: settings that differ between recipes, seconds, images/s, scores."""
    cfg = run_dir.load_run_config(run)
    rows = run_dir.read_metrics(run)
    n = run_dir.load_array(run, "z", 0).shape[0]
    images = n * sum(settings.round_epochs(cfg, it) for it in range(len(rows)))
    wall = walls.get(cfg["seed"])
    pick = lambda r: {k: r[k] for k in ("acc", "nmi", "ari", "seconds")}  # noqa: E731
    return {"run": os.path.basename(run), "seed": cfg["seed"], "n_data": n, "rounds": len(rows),
            "epochs": [cfg["vae_epochs"], cfg["mutual_epochs"]], "wall_seconds": wall,
            "images_per_second": round(images / wall) if wall else None,
            "calibration_multiple": round(wall / calibration_s, 1) if wall and calibration_s else None,
            "round0": pick(rows[0]), "last": pick(rows[-1])}


def copy_config(run, dest):
    """run's config.json into dest, its data folder written as DIR (the README's name for it)."""
    with open(os.path.join(run, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(dest, "config.json"), "w") as f:
        f.write(json.dumps({**cfg, "data_root": "DIR"}, indent=2))


def table(results):
    lines = ["| images | epochs (round 0, later) | seeds | wall minutes | x calibration | images/s | round 0 ACC | "
             "last ACC | last NMI | last ARI |", "|---|---|---|---|---|---|---|---|---|---|"]
    for key in sorted({(r["n_data"], tuple(r["epochs"])) for r in results}):
        rs = [r for r in results if (r["n_data"], tuple(r["epochs"])) == key]
        walls = [r["wall_seconds"] / 60 for r in rs if r["wall_seconds"]]
        rates = [r["images_per_second"] for r in rs if r["images_per_second"]]
        multiples = [r["calibration_multiple"] for r in rs if r.get("calibration_multiple")]
        lines.append(f"| {key[0]} | {key[1][0]}, {key[1][1]} | {len(rs)} | "
                     f"{spread(walls, 1) if walls else ''} | {spread(multiples, 1) if multiples else ''} | "
                     f"{spread(rates, 0) if rates else ''} | "
                     f"{spread([r['round0']['acc'] for r in rs])} | {spread([r['last']['acc'] for r in rs])} | "
                     f"{spread([r['last']['nmi'] for r in rs])} | {spread([r['last']['ari'] for r in rs])} |")
    return "\n".join(lines)


def main_bench():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="comma-separated folders of finished runs")
    p.add_argument("--walls", default="", help='file of "seed seconds" lines')
    p.add_argument("--out", default="model/bench_runs")
    args = p.parse_args()
    walls, machine = {}, None
    if args.walls:
        with open(args.walls) as f:
            walls = {int(s): float(t) for s, t in (line.split() for line in f if line.strip())}
        calibration = os.path.join(os.path.dirname(args.walls), "calibration.json")
        if os.path.exists(calibration):
            with open(calibration) as f:
                machine = json.load(f)
    try:
        results = [summarise(run, walls, machine and machine["calibration_s"]) for run in args.runs.split(",")]
    except (settings.SettingError, run_dir.RunError) as err:
        sys.exit(f"run_table.py: {err}")
    for run in args.runs.split(","):
        dest = os.path.join(args.out, os.path.basename(run))
        os.makedirs(dest, exist_ok=True)
        shutil.copy(os.path.join(run, "metrics.csv"), dest)
        copy_config(run, dest)
    if args.walls:
        shutil.copy(args.walls, os.path.join(args.out, "walls.txt"))
    header = ""
    if machine:
        shutil.copy(calibration, os.path.join(args.out, "calibration.json"))
        header = (f"{machine['cpu']} ({machine['cpu_capability']}), {machine['torch_threads']} torch threads "
                  f"(OMP_NUM_THREADS={machine['omp_num_threads'] or 'unset'}), torch {machine['torch']}; "
                  f"calibration workload {machine['calibration_s']} s\n\n")
    save_results(args.out, results)
    save_table(args.out, header + table(results))


if __name__ == "__main__":
    main_bench()
