"""The profiler: where the time goes, on this machine.

    python bench/profiler.py round --data_root=DIR [--device=cpu] [--out=bench/results/cpu_profile_today]
    python bench/profiler.py calibrate [--out=FILE.json]
    python bench/profiler.py gibbs-vs-em [--latents=model/debug/npy/z_0.npy]
    python bench/profiler.py serket --data_root=DIR
    python bench/profiler.py epochs --data_root=DIR [--variants=baseline,fused_adam] [--epochs=5]

round: every stage of one mutual-learning round with main.py's settings (any --name=value
after the options): VAE epochs (the median of --epochs after one warm-up epoch), the ELBO
and latents of all images, the map (its embedding, then EM on it), the GMM's gmm_iter
Gibbs sweeps, the message, the round's plots, its checkpoint and arrays, and the decoding
of every cluster at the end; the later stages see the latents of that short training.
Writes profile.json (with the machine and the calibration workload's seconds) and table.md.
calibrate: the fixed workload of bench/calibrate.py (every timing file records its
seconds): prints the machine and the seconds, and writes them with --out.
gibbs-vs-em: seconds per Gibbs sweep against seconds per EM iteration of scikit-learn's
GaussianMixture (full covariance) on the same latents; EM's initialisation is excluded by
timing fits of 20 and 10 iterations (tol=0, the same init); medians over --repeats.
epochs: seconds of a VAE epoch of round 0 (the default network, batch and data), median of
--epochs after one warm-up, for changes to how an epoch runs (VARIANTS; bf16_autocast alone
changes the arithmetic on purpose), each from the same seed; each variant's ELBO curve
against the baseline's says whether its numbers are the same (to floating-point noise) or not.
serket: seconds of --sweeps MLDA and MM sweeps on the 3,000 bundled pairs (the GMM's
modality made of k-means classes times 200 pseudo-counts).
"""
import argparse
import json
import os
import sys
import tempfile
import time
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import gmm_module  # noqa: E402
import main  # noqa: E402
import tool  # noqa: E402
import vae_module  # noqa: E402
from calibrate import record  # noqa: E402
from maps import start as start_maps  # noqa: E402
from run_folder import files, plots, state  # noqa: E402
from settings import checks  # noqa: E402


def timed(stages, name, work):
    """Run work(), record its wall time under stages[name], return its result."""
    start = time.perf_counter()
    out = work()
    stages[name] = round(time.perf_counter() - start, 2)
    return out


def profile_round(cfg, images, labels, device, epochs):
    """{stage: seconds} of one round with settings cfg (resolved) on images: its stages as
    main.train_model runs them (VAE, map, GMM, message), the map split into its embedding
    and the EM that clusters it, and the chain's gmm_iter sweeps timed whole."""
    stages, n = {}, len(images)
    train_loader, all_loader = main.make_loaders(images, cfg, device)
    run = state.new_run(cfg, n, device)
    torch.manual_seed(cfg["seed"])
    run.model = files.new_vae({**cfg, "x_dim": images.shape[1]}, device)
    run.optimizer = vae_module.new_optimizer(run.model)
    per_epoch = []
    for _ in range(epochs + 1):
        start = time.perf_counter()
        vae_module.train(run.model, train_loader, run.prior_mu, run.prior_var, 1, run.optimizer, generator=run.noise)
        if device.type == "cuda":
            torch.cuda.synchronize()
        per_epoch.append(time.perf_counter() - start)
    stages["VAE epoch (median)"] = round(float(np.median(per_epoch[1:])), 2)
    gen = torch.Generator(device=device)
    z = timed(stages, "ELBO and latents of all images", lambda: (
        vae_module.evaluate_elbo(run.model, all_loader, run.prior_mu, run.prior_var, gen.manual_seed(0)),
        vae_module.send_all_z(run.model, all_loader))[1])
    rng = np.random.default_rng(cfg["seed"])
    centred, seed, map_points, map_prob = z - z.mean(axis=0), int(rng.integers(2**31 - 1)), None, None
    if cfg["gmm_init"] == "tsne" and n <= 10000:
        e = timed(stages, "map: t-SNE embedding", lambda: start_maps.tsne_embedding(centred, seed))
        map_points = e
    elif cfg["gmm_init"] == "umap":
        e = timed(stages, "map: UMAP embedding", lambda: start_maps.umap_embedding(centred, seed))
    if map_points is not None or cfg["gmm_init"] == "umap":
        classes, map_prob = timed(stages, "map: EM on the embedding (10 restarts)",
                                  lambda: start_maps.map_gmm(e, cfg["K"], seed))
    else:
        classes = timed(stages, f"map: {cfg['gmm_init']} start", lambda: start_maps.start_chain(
            z, cfg["K"], rng, cfg["gmm_init"] if cfg["gmm_init"] != "prior" else "kmeans")[0])
    on_sweep, scores = tool.sweep_scorer(labels)
    gmm = timed(stages, f"GMM: {cfg['gmm_iter']} Gibbs sweeps with the map's vote, scored", lambda: gmm_module.GibbsGMM(
        cfg["K"], main.gmm_prior(cfg, z), cfg["gmm_iter"], cfg["gmm_iter"] // 2).run(
        z, rng, classes, map_prob=map_prob, on_sweep=on_sweep))
    timed(stages, "message: the VAE's next priors", lambda: vae_module.prior_from_gmm(gmm.point_mu, gmm.point_var, device))
    history = {**gmm.history, **scores}
    run.elbo_curves[0], run.z, run.gmm, run.classes = [0.0], z, gmm.state, gmm.classes
    rows = [{"round": 0, "elbo": 0.0, **files.last_scores(history), "seconds": 0.0}]
    with tempfile.TemporaryDirectory() as out:
        timed(stages, "plots of a round (a t-SNE of tsne_points, or the GMM's t-SNE map; PCA)",
              lambda: plots.plot_round(out, 0, z, labels, history, run.elbo_curves, cfg, rows, map_points))
        timed(stages, "checkpoint and arrays", lambda: files.save_round(out, 0, run, train_loader, gmm, history))
        timed(stages, f"decoding {cfg['K']} clusters (end of run)", lambda: [
            tool.decode_cluster(run.model, gmm.state, z, gmm.classes, k, cfg["sample_num"], cfg["seed"], 0,
                                out, device) for k in range(cfg["K"])])
    return stages


def round_command(args, overrides):
    try:
        cfg = main.parse_settings(overrides)
        device = checks.pick_device(args.device)
    except checks.SettingError as err:
        sys.exit(f"profiler.py: {err}")
    if args.calibration:  # measured already in this session (bench/gpu_check.sh)
        with open(args.calibration) as f:
            machine = json.load(f)
    else:  # the machine and the calibration workload's seconds, before anything else runs
        machine = record(device)
    images, labels = tool.load_dataset(cfg["dataset"], args.data_root, cfg["n_data"])
    cfg = checks.resolve_epochs(cfg, len(images))
    stages = profile_round(cfg, images, labels, device, args.epochs)
    epoch, decoding = stages["VAE epoch (median)"], stages[f"decoding {cfg['K']} clusters (end of run)"]
    rest = sum(v for k, v in stages.items() if k not in ("VAE epoch (median)", f"decoding {cfg['K']} clusters (end of run)"))
    rounds = [checks.round_epochs(cfg, it) for it in range(cfg["mutual_iteration"])]
    total = sum(e * epoch + rest for e in rounds) + decoding
    result = {"machine": machine, "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "threads": torch.get_num_threads(), "n_data": len(images), "settings": overrides,
              "stages": stages, "round_epochs": rounds, "estimated_run_seconds": round(total, 1)}
    os.makedirs(args.out, exist_ok=True)
    with open(f"{args.out}/profile.json", "w") as f:
        json.dump(result, f, indent=1)
    with open(f"{args.out}/table.md", "w") as f:
        f.write(stage_table(result) + "\n")
    print(stage_table(result))


def stage_table(result):
    """A profile.json's stages as a markdown table, with a later round and the whole run."""
    stages, rounds = result["stages"], result["round_epochs"]
    epoch = stages["VAE epoch (median)"]
    decoding_key = next(k for k in stages if k.startswith("decoding"))
    decoding = stages[decoding_key]
    rest = sum(stages.values()) - epoch - decoding
    later = rounds[-1] * epoch + rest
    lines = [f"{result['device']} ({result['machine']['cpu']}), {result['threads']} threads, torch "
             f"{result['machine']['torch']}, calibration {result['machine']['calibration_s']} s; "
             f"{result['n_data']} images, settings {' '.join(result['settings']) or 'default'}", "",
             "| stage | seconds | share of a later round |", "|---|---|---|"]
    lines += [f"| {k} | {v} | {(v * (rounds[-1] if k.startswith('VAE epoch') else 1)) / later:.0%} |"
              for k, v in stages.items() if not k.startswith("decoding")]
    lines += [f"| a later round: {rounds[-1]} epochs x epoch + the rest | {later:.0f} | 100% |",
              f"| {decoding_key} | {decoding} | |",
              f"| the whole run ({len(rounds)} rounds, epochs {rounds}), estimated | {result['estimated_run_seconds']:.0f} | |"]
    return "\n".join(lines)


def calibrate_command(args, _):
    """The calibration workload alone (bench/calibrate.py): the machine and its seconds."""
    rec = record(args.device, args.images)
    print(json.dumps(rec, indent=1))
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(rec, f, indent=1)


# changes to how a VAE epoch runs: (model, optimiser) -> (model, optimiser); all but bf16_autocast
# are meant to leave the arithmetic alone
VARIANTS = {
    "baseline": lambda m, lr: (m, torch.optim.Adam(m.parameters(), lr=lr)),
    "foreach_adam": lambda m, lr: (m, torch.optim.Adam(m.parameters(), lr=lr, foreach=True)),
    "fused_adam": lambda m, lr: (m, torch.optim.Adam(m.parameters(), lr=lr, fused=True)),
    "channels_last": lambda m, lr: (m.to(memory_format=torch.channels_last),
                                    torch.optim.Adam(m.parameters(), lr=lr)),
    "compile": lambda m, lr: (compile_networks(m), torch.optim.Adam(m.parameters(), lr=lr)),
    "one_thread": lambda m, lr: (torch.set_num_threads(1) or m, torch.optim.Adam(m.parameters(), lr=lr)),
    "bf16_autocast": lambda m, lr: (bf16_networks(m), torch.optim.Adam(m.parameters(), lr=lr)),
}


def bf16_networks(model):
    """model whose encode and decode_logits run under CPU autocast to bfloat16 (weights and
    the loss stay float32; outputs are cast back to float32). bfloat16 is native only on
    CPUs whose flags include avx512_bf16 or amx_bf16; elsewhere it is emulated."""
    encode, decode = model.encode, model.decode_logits

    def encode_bf16(o):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return tuple(t.float() for t in encode(o))

    def decode_bf16(z):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return decode(z).float()

    model.encode, model.decode_logits = encode_bf16, decode_bf16
    return model


def compile_networks(model):
    """model with its encoder and decoder networks compiled by torch.compile (the training
    loop calls encode and decode_logits, not forward, so compiling the model would not act)."""
    model.encoder, model.decoder = torch.compile(model.encoder), torch.compile(model.decoder)
    return model


def epochs_command(args, overrides):
    cfg = checks.resolve_epochs(main.parse_settings(overrides), 1)
    device = checks.pick_device(args.device)
    images, _ = tool.load_dataset(cfg["dataset"], args.data_root, cfg["n_data"])
    machine, threads = record(), torch.get_num_threads()
    print(f"{machine['cpu']} ({machine['cpu_capability']}), {threads} threads, torch {machine['torch']}, "
          f"calibration {machine['calibration_s']} s")
    print("| variant | first epoch seconds | epoch seconds (median of the rest) | x baseline | ELBO after the epochs "
          "| same numbers as the baseline |\n|---|---|---|---|---|---|")
    base = None
    for name in args.variants.split(","):
        torch.set_num_threads(threads)
        torch.manual_seed(cfg["seed"])
        model, optimizer = VARIANTS[name](files.new_vae({**cfg, "x_dim": images.shape[1]}, device),
                                          vae_module.LEARNING_RATE)
        train_loader, _ = main.make_loaders(images, cfg, device)
        zeros = torch.zeros(len(images), cfg["latent_dim"], device=device)
        noise = torch.Generator(device=device).manual_seed(cfg["seed"])
        seconds, curve = [], []
        for _ in range(args.epochs + 1):
            start = time.perf_counter()
            curve += vae_module.train(model, train_loader, zeros, zeros + 1.0, 1, optimizer, generator=noise)
            seconds.append(time.perf_counter() - start)
        base = base or (float(np.median(seconds[1:])), curve)
        same = np.allclose(curve, base[1], rtol=0, atol=1e-3 * max(1.0, abs(base[1][-1]) / 100))
        print(f"| {name} | {seconds[0]:.2f} | {np.median(seconds[1:]):.2f} | {np.median(seconds[1:]) / base[0]:.2f} | "
              f"{curve[-1]:.3f} | {'yes' if same else 'no'} (max diff {np.abs(np.subtract(curve, base[1])).max():.1e}) |",
              flush=True)


def em_iteration_seconds(x, K, seed):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture
    times = {}
    for iters in (10, 20):
        gm = GaussianMixture(K, covariance_type="full", max_iter=iters, tol=0, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            gm.fit(x)
            times[iters] = time.perf_counter() - start
    return (times[20] - times[10]) / 10


def gibbs_sweep_seconds(x, K, seed, sweeps=20):
    rng = np.random.default_rng(seed)
    classes = rng.integers(0, K, len(x))
    start = time.perf_counter()
    gmm_module.GibbsGMM(K, None, 0, 0).run(x, rng, classes)  # set-up only: features, prior, first draw
    setup = time.perf_counter() - start
    start = time.perf_counter()
    gmm_module.GibbsGMM(K, None, sweeps, 0).run(x, rng, classes)
    return (time.perf_counter() - start - setup) / sweeps


def gibbs_vs_em_command(args, _):
    rng = np.random.default_rng(0)
    base = (np.load(args.latents) if args.latents else
            rng.standard_normal((args.K, args.D))[rng.integers(0, args.K, 70000)] * 3
            + rng.standard_normal((70000, args.D)))
    print("| N | D | K | Gibbs sweep (ms) | EM iteration (ms) | ratio |\n|---|---|---|---|---|---|")
    for n in map(int, args.sizes.split(",")):
        x = np.resize(base, (n, base.shape[1])).astype(np.float64)
        g = np.median([gibbs_sweep_seconds(x, args.K, s) for s in range(args.repeats)])
        e = np.median([em_iteration_seconds(x, args.K, s) for s in range(args.repeats)])
        print(f"| {n} | {x.shape[1]} | {args.K} | {1e3 * g:.1f} | {1e3 * e:.1f} | {g / e:.2f} |", flush=True)


def serket_command(args, _):
    from sklearn.cluster import KMeans

    from serket import data as serket_data, markov, mlda
    images, counts, _ = serket_data.load_digit_pairs(args.data_root)
    classes = KMeans(10, n_init=1, random_state=0).fit_predict(images.numpy())
    gmm_counts = mlda.pseudo_counts(np.eye(10)[classes], 200)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    res = mlda.fit_mlda([gmm_counts, counts], 10, args.sweeps, rng)
    mlda_s = time.perf_counter() - start
    start = time.perf_counter()
    markov.fit_markov(res.class_prob, args.sweeps, rng)
    mm_s = time.perf_counter() - start
    tokens = int(gmm_counts.sum() + counts.sum())
    print(f"{len(counts)} documents, {tokens} tokens: {args.sweeps} MLDA sweeps {mlda_s:.1f} s, "
          f"{args.sweeps} MM sweeps {mm_s:.1f} s")


def main_bench(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("round", help="seconds of every stage of a round (then any --name=value of main.py)")
    r.add_argument("--data_root", default="./data")
    r.add_argument("--device", default="auto")
    r.add_argument("--epochs", type=int, default=3, help="VAE epochs timed (after one warm-up epoch)")
    r.add_argument("--out", default="model/bench_profile", help="folder of profile.json")
    r.add_argument("--calibration", default="", help="a calibration.json of this session to record, instead of "
                   "measuring the workload again")
    r.set_defaults(run=round_command)
    g = sub.add_parser("gibbs-vs-em", help="a Gibbs sweep against an EM iteration")
    g.add_argument("--latents", default="", help=".npy of latents (N x D); default synthetic")
    g.add_argument("--sizes", default="10000,70000", help="N values (rows are tiled when needed)")
    g.add_argument("--K", type=int, default=10)
    g.add_argument("--D", type=int, default=12)
    g.add_argument("--repeats", type=int, default=5)
    g.set_defaults(run=gibbs_vs_em_command)
    e = sub.add_parser("epochs", help="seconds of a VAE epoch with recipe-neutral changes (then --name=value)")
    e.add_argument("--data_root", default="./data")
    e.add_argument("--device", default="cpu")
    e.add_argument("--epochs", type=int, default=5, help="epochs timed per variant (after one warm-up epoch)")
    e.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    e.set_defaults(run=epochs_command)
    c = sub.add_parser("calibrate", help="the calibration workload alone: the machine and its seconds")
    c.add_argument("--out", default="", help="also write them to this .json file")
    c.add_argument("--device", default="cpu", help="cpu, or cuda to time the workload on the GPU")
    c.add_argument("--images", type=int, default=10000, help="fewer only for a dry run")
    c.set_defaults(run=calibrate_command)
    s = sub.add_parser("serket", help="MLDA and MM sweeps on the bundled pairs")
    s.add_argument("--data_root", default="./data")
    s.add_argument("--sweeps", type=int, default=100)
    s.set_defaults(run=serket_command)
    args, overrides = p.parse_known_args(argv)
    if overrides and args.command not in ("round", "epochs"):
        p.error(f"unknown arguments {overrides}")
    args.run(args, overrides)


if __name__ == "__main__":
    main_bench(sys.argv[1:])
