"""Where a round of the default recipe spends its time, stage by stage, on this machine.

    python bench/speed.py --data_root=DIR [--device=cpu] [--out=bench/results/cpu_profile]

Times every stage of one mutual-learning round with main.py's settings (any setting can
be added as --name=value after the options): VAE epochs, the ELBO and latents of all
images, the GMM's start (its map and EM on it), one Gibbs sweep, the round's plots, its
checkpoint and arrays, and the decoding of every cluster at the end of a run. The VAE is
timed over --epochs epochs after one warm-up epoch (median); the latents the GMM stages
see are those of that short training, which changes their cost little. Writes
profile.json and prints a table: seconds per stage and per default round.
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import data  # noqa: E402
import generate  # noqa: E402
import gmm_module  # noqa: E402
import main  # noqa: E402
import run_dir  # noqa: E402
import settings  # noqa: E402
import vae_module  # noqa: E402
from calibrate import record  # noqa: E402


def timed(stages, name, work):
    """Run work(), record its wall time under stages[name], return its result."""
    start = time.perf_counter()
    out = work()
    stages[name] = round(time.perf_counter() - start, 2)
    return out


def profile(cfg, images, labels, device, epochs):
    """{stage: seconds} of one round with settings cfg (resolved epochs) on images."""
    stages, n = {}, len(images)
    train_loader, all_loader = main.make_loaders(images, cfg, device)
    run = run_dir.new_run(cfg, n, device)
    torch.manual_seed(cfg["seed"])
    run.model = run_dir.new_vae({**cfg, "x_dim": images.shape[1]}, device)
    run.optimizer = torch.optim.Adam(run.model.parameters(), lr=cfg["lr"])
    per_epoch = []
    for _ in range(epochs + 1):
        start = time.perf_counter()
        vae_module.train(run.model, train_loader, run.prior_mu, run.prior_var, 1, run.optimizer, cfg["alpha"],
                         generator=run.noise)
        if device.type == "cuda":
            torch.cuda.synchronize()
        per_epoch.append(time.perf_counter() - start)
    stages["VAE epoch (median)"] = round(float(np.median(per_epoch[1:])), 2)
    gen = torch.Generator(device=device)
    z = timed(stages, "ELBO and latents of all images", lambda: (
        vae_module.evaluate_elbo(run.model, all_loader, run.prior_mu, run.prior_var, gen.manual_seed(0)),
        vae_module.send_all_z(run.model, all_loader))[1])
    rng = np.random.default_rng(cfg["seed"])
    map_points = None
    if cfg["gmm_init"] in ("umap", "tsne"):
        _, _, map_points = timed(stages, f"GMM start: {cfg['gmm_init']} map and EM",
                                 lambda: gmm_module.start_chain(z, cfg["K"], rng, cfg["gmm_init"]))
    classes = gmm_module.start_chain(z, cfg["K"], rng, "kmeans")[0]
    gmm = timed(stages, "Gibbs sweep (from a k-means start, k-means excluded)",
                lambda: gmm_module.fit_gibbs(z, cfg["K"], 1, rng, main.gmm_prior(cfg, z), classes=classes,
                                             labels=labels))
    run.elbo_curves[0], run.z, run.gmm, run.classes = [0.0], z, gmm.state, gmm.classes
    rows = [{"round": 0, "elbo": 0.0, **run_dir.last_scores(gmm.history), "seconds": 0.0}]
    with tempfile.TemporaryDirectory() as out:
        timed(stages, "plots of a round (a t-SNE of tsne_points, or the GMM's t-SNE map; PCA)",
              lambda: run_dir.plot_round(out, 0, z, labels, gmm.history, run.elbo_curves, cfg, rows, map_points))
        timed(stages, "checkpoint and arrays", lambda: run_dir.save_round(out, 0, run, train_loader, gmm))
        timed(stages, f"decoding {cfg['K']} clusters (end of run)", lambda: [
            generate.decode_cluster(run.model, gmm.state, z, gmm.classes, k, cfg["sample_num"], cfg["seed"], 0,
                                    out, device) for k in range(cfg["K"])])
    return stages


def main_bench():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_root", default="./data")
    p.add_argument("--device", default="auto")
    p.add_argument("--epochs", type=int, default=3, help="VAE epochs timed (after one warm-up epoch)")
    p.add_argument("--out", default="model/bench_speed", help="folder of profile.json")
    args, overrides = p.parse_known_args()
    try:
        cfg = main.parse_settings(overrides)
        device = settings.pick_device(args.device)
    except settings.SettingError as err:
        p.error(str(err))
    machine = record()  # the machine and bench/calibrate.py's seconds, before anything else runs
    images, labels = data.load_mnist(args.data_root, cfg["n_data"])
    cfg = settings.resolve_epochs(cfg, len(images))
    stages = profile(cfg, images, labels, device, args.epochs)
    epoch = stages["VAE epoch (median)"]
    other = sum(v for k, v in stages.items() if not k.startswith(("VAE", "decoding", "Gibbs")))
    gibbs = stages["Gibbs sweep (from a k-means start, k-means excluded)"] * cfg["gmm_iter"]
    rounds = [(it, settings.round_epochs(cfg, it)) for it in range(cfg["mutual_iteration"])]
    total = sum(e * epoch + other + gibbs for _, e in rounds) + stages[f"decoding {cfg['K']} clusters (end of run)"]
    result = {"machine": machine, "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "threads": torch.get_num_threads(), "n_data": len(images), "settings": overrides,
              "stages": stages, "round_epochs": [e for _, e in rounds],
              "estimated_run_seconds": round(total, 1)}
    os.makedirs(args.out, exist_ok=True)
    with open(f"{args.out}/profile.json", "w") as f:
        json.dump(result, f, indent=1)
    print(f"{result['device']}, {result['threads']} threads, {len(images)} images, settings {overrides or 'default'}")
    print("| stage | seconds |\n|---|---|")
    for name, sec in stages.items():
        print(f"| {name} | {sec} |")
    print(f"| a round of {rounds[-1][1]} epochs: epochs x epoch + the rest | "
          f"{rounds[-1][1] * epoch + other + gibbs:.0f} |")
    print(f"| the whole run ({len(rounds)} rounds, epochs {[e for _, e in rounds]}), estimated | {total:.0f} |")


if __name__ == "__main__":
    main_bench()
