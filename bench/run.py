"""The runner: seeds x recipes of main.py, run as a user runs them, then summarised.

    python bench/run.py --out=bench/results/cpu_default_10k --seeds=1,2,3,4,5 --data_root=DIR
    python bench/run.py --out=bench/results/cpu_original_code_10k --recipe=config/original_code.py \
        --seeds=1,2,3,4,5 --data_root=DIR
    python bench/run.py --out=bench/results/cpu_umap_70k --runs=model/a_s1,model/b_s2 --walls=FILE

A recipe is "default" or a file of overrides (config/NAME.py); --recipe may be repeated, and
every other --name=value is a setting of main.py given to every run. Each (recipe, seed)
runs `python main.py RECIPE --seed=S --dir_name=<out name>_<recipe>_s<S> SETTINGS` in a new
process, one at a time, and its wall time is measured (plots and decoding included), after
bench/calibrate.py's workload (calibration.json: the machine and its seconds). A run
already finished in model/ is not run again; one stopped midway is resumed (its wall time
is then not recorded). --runs summarises finished runs instead (--walls: "seed seconds" or
"run seconds" lines).

Into --out: every run's config.json (its data folder written as DIR) and metrics.csv,
walls.txt, results.json (one row per run) and table.md (median [min, max] per recipe of the
wall time, also as a multiple of the calibration, images/s, round 0's and the last round's
ACC, NMI and ARI).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import main  # noqa: E402
from calibrate import record  # noqa: E402
from common import save_results, save_table, spread  # noqa: E402
from run_folder import files  # noqa: E402
from settings import checks  # noqa: E402


def recipe_name(recipe):
    """'default', or the name of an override file without its folder and .py."""
    return recipe if recipe == "default" else os.path.splitext(os.path.basename(recipe))[0]


def run_one(recipe, seed, name, settings):
    """python main.py for one recipe and seed into model/<name>; its wall seconds, or None
    when it was finished already or had to be resumed (its wall would mislead)."""
    folder = os.path.join("model", name)
    done = files.read_metrics(folder) if os.path.exists(os.path.join(folder, "config.json")) else None
    argv = ([] if recipe == "default" else [recipe]) + [f"--seed={seed}", f"--dir_name={name}", *settings]
    cfg = main.parse_settings(argv)
    if done is not None and len(done) >= cfg["mutual_iteration"]:
        print(f"{name}: finished already", flush=True)
        return None
    resume = ["--resume=True"] if done is not None else []
    print(f"{name}: python main.py {' '.join(argv + resume)}", flush=True)
    os.makedirs("model", exist_ok=True)
    start = time.perf_counter()
    with open(os.path.join("model", f"{name}.log"), "w") as log:
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), *argv, *resume],
                              stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        sys.exit(f"run.py: {name} failed (exit {proc.returncode}); its output is in model/{name}.log")
    return None if resume else time.perf_counter() - start


def summarise(run, wall, calibration_s=None, recipe=""):
    """One run's row: recipe, seed, epochs, wall seconds, images/s, round 0 and last scores."""
    cfg = files.load_run_config(run)
    rows = files.read_metrics(run)
    n = files.load_array(run, "z", 0).shape[0]
    images = n * sum(checks.round_epochs(cfg, it) for it in range(len(rows)))
    pick = lambda r: {k: r[k] for k in ("acc", "nmi", "ari", "seconds")}  # noqa: E731
    return {"run": os.path.basename(run), "recipe": recipe, "seed": cfg["seed"], "n_data": n, "rounds": len(rows),
            "epochs": [cfg["vae_epochs"], cfg["mutual_epochs"]], "wall_seconds": wall,
            "images_per_second": round(images / wall) if wall else None,
            "calibration_multiple": round(wall / calibration_s, 1) if wall and calibration_s else None,
            "round0": pick(rows[0]), "last": pick(rows[-1])}


def copy_run(run, out):
    """run's metrics.csv and config.json into out/<run name>/, its data folder written as DIR."""
    dest = os.path.join(out, os.path.basename(run))
    os.makedirs(dest, exist_ok=True)
    shutil.copy(os.path.join(run, "metrics.csv"), dest)
    with open(os.path.join(run, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(dest, "config.json"), "w") as f:
        f.write(json.dumps({**cfg, "data_root": "DIR"}, indent=2))


def table(results, machine=None):
    """Markdown table of results, one line per group of runs with the same data and epochs."""
    lines = [] if not machine else [
        f"{machine['cpu']} ({machine['cpu_capability']}), {machine['torch_threads']} torch threads "
        f"(OMP_NUM_THREADS={machine['omp_num_threads'] or 'unset'}), torch {machine['torch']}; "
        f"calibration workload {machine['calibration_s']} s", ""]
    lines += ["| recipe | images | epochs (round 0, later) | seeds | wall minutes | x calibration | images/s | "
              "round 0 ACC | last ACC | last NMI | last ARI |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    group = lambda r: (r.get("recipe", ""), r["n_data"], tuple(r["epochs"]))  # noqa: E731
    for key in sorted({group(r) for r in results}):
        rs = [r for r in results if group(r) == key]
        walls = [r["wall_seconds"] / 60 for r in rs if r["wall_seconds"]]
        rates = [r["images_per_second"] for r in rs if r["images_per_second"]]
        multiples = [r["calibration_multiple"] for r in rs if r.get("calibration_multiple")]
        lines.append(f"| {key[0]} | {key[1]} | {key[2][0]}, {key[2][1]} | {len(rs)} | "
                     f"{spread(walls, 1) if walls else ''} | {spread(multiples, 1) if multiples else ''} | "
                     f"{spread(rates, 0) if rates else ''} | "
                     f"{spread([r['round0']['acc'] for r in rs])} | {spread([r['last']['acc'] for r in rs])} | "
                     f"{spread([r['last']['nmi'] for r in rs])} | {spread([r['last']['ari'] for r in rs])} |")
    return "\n".join(lines)


def read_walls(path):
    """{seed (int) or run name: seconds} from lines "seed seconds" or "run seconds"."""
    with open(path) as f:
        pairs = [line.split() for line in f if line.strip()]
    return {int(k) if k.isdigit() else k: float(v) for k, v in pairs}


def main_bench(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="folder for results.json, table.md and the runs' files")
    p.add_argument("--recipe", action="append", help='"default" (the default) or config/NAME.py; repeatable')
    p.add_argument("--seeds", default="1", help="comma-separated seeds")
    p.add_argument("--runs", default="", help="summarise these finished runs (comma-separated folders) instead")
    p.add_argument("--walls", default="", help='with --runs: file of "seed seconds" or "run seconds" lines')
    args, settings = p.parse_known_args(argv)
    os.makedirs(args.out, exist_ok=True)
    calibration = os.path.join(args.out, "calibration.json")
    try:
        if args.runs:
            runs = args.runs.split(",")
            walls = read_walls(args.walls) if args.walls else {}
            if args.walls and os.path.exists(os.path.join(os.path.dirname(args.walls), "calibration.json")):
                shutil.copy(os.path.join(os.path.dirname(args.walls), "calibration.json"), calibration)
            walls = {run: walls.get(os.path.basename(run), walls.get(files.load_run_config(run)["seed"]))
                     for run in runs}
            recipes = {}
        else:
            main.parse_settings(settings)  # a bad setting stops here, before any run
            if not os.path.exists(calibration):
                with open(calibration, "w") as f:
                    json.dump(record(), f, indent=1)
            out_name = os.path.basename(os.path.normpath(args.out))
            walls, runs, recipes = {}, [], {}
            for recipe in args.recipe or ["default"]:
                for seed in [int(s) for s in args.seeds.split(",")]:
                    name = f"{out_name}_{recipe_name(recipe)}_s{seed}"
                    runs.append(os.path.join("model", name))
                    recipes[runs[-1]] = recipe_name(recipe)
                    walls[runs[-1]] = run_one(recipe, seed, name, settings)
        machine = None
        if os.path.exists(calibration):
            with open(calibration) as f:
                machine = json.load(f)
        results = [summarise(run, walls[run], machine and machine["calibration_s"], recipes.get(run, ""))
                   for run in runs]
    except (checks.SettingError, files.RunError) as err:
        sys.exit(f"run.py: {err}")
    for run in runs:
        copy_run(run, args.out)
    if any(walls.values()):
        with open(os.path.join(args.out, "walls.txt"), "w") as f:
            f.writelines(f"{os.path.basename(run)} {walls[run]:.1f}\n" for run in runs if walls[run])
    save_results(args.out, results)
    save_table(args.out, table(results, machine))


if __name__ == "__main__":
    main_bench(sys.argv[1:])
