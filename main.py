"""VAE+GMM mutual learning (Neuro-SERKET, arXiv 1910.08918): train, save, decode.

    python main.py                          # the default run on the first 10,000 MNIST images
    python main.py --mutual_iteration=5     # any setting below can be overridden this way

Everything a run produces goes to model/<dir_name>/ (see README.md).
"""
# ---------------------------------------------------------------------------- settings
mutual_iteration = 6       # rounds: round 0 trains the VAE with prior N(0, I), later rounds with the GMM's
dir_name = "debug"         # outputs go to model/<dir_name>/
data_root = "./data"       # MNIST folder in torchvision's layout (downloaded there when missing)
n_data = 10000             # use the first n_data MNIST images (training set, then test set)
data_path = ""             # your own N x P data in [0, 1] (.npy, .npz or text) instead of MNIST
label_path = ""            # labels of data_path (N values), used only to score the clustering
latent_dim = 12            # D, size of the latent x_d shared by VAE and GMM
hidden_dims = (256,)       # hidden layer sizes of the encoder (the decoder mirrors them)
architecture = "conv"      # VAE networks: "conv" (two conv layers, then hidden_dims[-1]; square images) or "dense"
vae_epochs = 0             # VAE epochs per round; 0: enough for 1.5 million images (150 of 10,000, 21 of 70,000)
batch_size = 100           # VAE mini-batch size
lr = 1e-3                  # Adam learning rate
alpha = 1.0                # weight of the KL term, the same in every round
send = "mean"              # latent the encoder sends to the GMM: "mean" or "sample"
K = 10                     # number of GMM clusters
gmm_iter = 1               # Gibbs sweeps per round (a short chain from the start; see README)
gmm_init = "tsne"          # start of each chain: "tsne" (GMM of a t-SNE map), "kmeans" or "prior"
gmm_alpha0 = 1e5           # Dirichlet concentration of the mixing weights (1e5 holds them near 1/K)
gmm_beta0 = 1.0            # prior precision scale of the cluster means
gmm_nu0 = 100.0            # Wishart degrees of freedom (pseudo-points of the covariances); 0 means latent_dim + 2
gmm_W0 = 0.0               # Wishart scale; 0 adapts to the latents (see gmm_module), s > 0 means s * I
gmm_map_bias = True        # gmm_init="tsne": the t-SNE map's cluster probabilities multiply the sweeps' assignment probabilities
gmm_assign = "argmax"      # classes the GMM reports and sends: "argmax" of the last sweep's probabilities, or "sample"
warm_start_vae = True      # keep training the same VAE across rounds (False: a new VAE each round)
warm_start_gmm = False     # True: start each round's chain from the last round's assignments; False: from gmm_init
prior_var_floor = 1e-3     # lower bound on the prior variances the GMM sends to the VAE
sample_num = 16            # images decoded per cluster at the end
tsne_points = 3000         # points in the t-SNE plots (0: no t-SNE)
seed = 1                   # seeds torch, the GMM's numpy Generator, shuffling and plots
device = "auto"            # "auto" (CUDA when available), "cpu", "cuda" or "cuda:N"
resume = False             # continue the run in model/<dir_name> after its last complete round
generate = ""              # draw from the saved run in model/<dir_name> instead of training:
                           # "clusters", "prior" or "transit" (PNG into recon/)
generate_round = -1        # round whose VAE and GMM generate (-1: the last saved)
transit_from = 0           # "transit": index of the first image ...
transit_to = 1             # ... and of the last; decoded along the line between their latents
model = "vae_gmm"          # "vae_gmm", Serket's "vae_gmm_mlda" or "vae_gmm_mlda_mm", or the "gmvae" baseline
w_dim = 10                 # gmvae: size of the latent w that sets the K Gaussians over z
serket_dir = ""            # multimodal data from Serket's data1.txt, data2.txt, category.txt
mlda_weight = 200.0        # pseudo-counts per data point made of the GMM's class probabilities
mlda_iter = 100            # MLDA Gibbs sweeps per round
mlda_alpha = 1.0           # MLDA's Dirichlet prior on class proportions
mlda_beta = 1.0            # MLDA's Dirichlet prior on word distributions
mm_iter = 100              # Markov-model Gibbs sweeps per round
mm_gamma = 1.0             # Dirichlet prior on each row of the transition matrix
tensorboard = False        # also log losses and scores to model/<dir_name>/tensorboard (needs the tensorboard package)
# -------------------------------------------------------------------------------------

import ast  # noqa: E402
import csv  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

SETTINGS = {k: v for k, v in dict(globals()).items()
            if not k.startswith("_") and isinstance(v, (bool, int, float, str, tuple))}


MULTIMODAL = ("vae_gmm_mlda", "vae_gmm_mlda_mm")  # Serket's models, with a second modality
MODELS = ("vae_gmm",) + MULTIMODAL + ("gmvae",)


class SettingError(ValueError):
    """A bad setting; its message names the setting and what is allowed."""


class RunError(RuntimeError):
    """A run that cannot go on (a file missing, corrupt or unwritable); the message says which."""


def parse_settings(argv):
    """--name=value overrides of SETTINGS -> dict. Unknown names and bad values raise SettingError."""
    cfg = dict(SETTINGS)
    for arg in argv:
        if not arg.startswith("--") or "=" not in arg:
            raise SettingError(f"argument {arg!r}: write settings as --name=value, e.g. --mutual_iteration=5")
        name, raw = arg[2:].split("=", 1)
        if name not in cfg:
            raise SettingError(f"unknown setting {name!r}; known settings: {', '.join(SETTINGS)}")
        cfg[name] = _convert(name, raw, SETTINGS[name])
    check_settings(cfg)
    return cfg


def _convert(name, raw, default):
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    if isinstance(default, bool):
        value = {"true": True, "false": False, "1": True, "0": False}.get(str(value).lower(), value)
        ok = isinstance(value, bool)
    elif isinstance(default, tuple):
        value = (value,) if isinstance(value, int) else value
        ok = isinstance(value, (tuple, list)) and all(type(v) is int for v in value)
        value = tuple(value) if ok else value
    elif isinstance(default, float):
        ok = type(value) in (int, float)
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = type(value) is int
    else:
        value, ok = str(raw), True
    if not ok:
        raise SettingError(f"setting {name}={raw!r}: expected {type(default).__name__} like {default!r}")
    return value


def check_settings(cfg):
    """Raise SettingError for the first setting outside its allowed range."""
    rules = [
        ("mutual_iteration", cfg["mutual_iteration"] >= 1, "an integer >= 1"),
        ("dir_name", cfg["dir_name"].strip() not in ("", ".", ".."), "a non-empty folder name"),
        ("n_data", cfg["n_data"] >= 1, "an integer >= 1"),
        ("latent_dim", cfg["latent_dim"] >= 1, "an integer >= 1"),
        ("hidden_dims", len(cfg["hidden_dims"]) >= 1 and min(cfg["hidden_dims"]) >= 1,
         "one or more layer sizes >= 1, e.g. --hidden_dims=256 or --hidden_dims=500,500"),
        ("vae_epochs", cfg["vae_epochs"] >= 0, "an integer >= 1, or 0 (epochs that make 1.5 million images a round)"),
        ("batch_size", cfg["batch_size"] >= 1 and (cfg["data_path"] or cfg["batch_size"] <= cfg["n_data"]),
         f"between 1 and n_data={cfg['n_data']}"),
        ("lr", cfg["lr"] > 0, "a number > 0"),
        ("alpha", cfg["alpha"] >= 0, "a number >= 0"),
        ("send", cfg["send"] in ("mean", "sample"), "'mean' or 'sample'"),
        ("K", cfg["K"] >= 1 and (cfg["data_path"] or cfg["K"] <= cfg["n_data"]),
         f"an integer between 1 and n_data={cfg['n_data']}"),
        ("gmm_iter", cfg["gmm_iter"] >= 1, "an integer >= 1"),
        ("gmm_init", cfg["gmm_init"] in ("kmeans", "tsne", "prior"), "'kmeans', 'tsne' or 'prior'"),
        ("gmm_assign", cfg["gmm_assign"] in ("argmax", "sample"), "'argmax' or 'sample'"),
        ("gmm_alpha0", cfg["gmm_alpha0"] > 0, "a number > 0"),
        ("gmm_beta0", cfg["gmm_beta0"] > 0, "a number > 0"),
        ("gmm_nu0", cfg["gmm_nu0"] == 0 or cfg["gmm_nu0"] > cfg["latent_dim"] - 1,
         f"0 (automatic) or a number > latent_dim - 1 = {cfg['latent_dim'] - 1}"),
        ("gmm_W0", cfg["gmm_W0"] >= 0, "0 (automatic) or a number > 0"),
        ("prior_var_floor", cfg["prior_var_floor"] > 0, "a number > 0"),
        ("sample_num", cfg["sample_num"] >= 1, "an integer >= 1"),
        ("tsne_points", cfg["tsne_points"] >= 0, "an integer >= 0 (0 skips t-SNE)"),
        ("architecture", cfg["architecture"] in ("dense", "conv"), "'dense' or 'conv'"),
        ("generate", cfg["generate"] in ("", "clusters", "prior", "transit"),
         "'' (train), 'clusters', 'prior' or 'transit'"),
        ("transit_from", cfg["transit_from"] >= 0, "an image index >= 0"),
        ("transit_to", cfg["transit_to"] >= 0, "an image index >= 0"),
        ("model", cfg["model"] in MODELS, " or ".join(repr(m) for m in MODELS)),
        ("w_dim", cfg["w_dim"] >= 1, "an integer >= 1"),
        ("resume", not (cfg["resume"] and cfg["model"] == "gmvae"),
         "False with --model=gmvae (it trains in one go; rerun it into a new --dir_name)"),
        ("mlda_weight", cfg["mlda_weight"] > 0, "a number > 0"),
        ("mlda_iter", cfg["mlda_iter"] >= 1, "an integer >= 1"),
        ("mlda_alpha", cfg["mlda_alpha"] > 0, "a number > 0"),
        ("mlda_beta", cfg["mlda_beta"] > 0, "a number > 0"),
        ("mm_iter", cfg["mm_iter"] >= 1, "an integer >= 1"),
        ("mm_gamma", cfg["mm_gamma"] > 0, "a number > 0"),
        ("device", cfg["device"] == "auto" or cfg["device"] == "cpu"
         or cfg["device"].split(":")[0] == "cuda", "'auto', 'cpu', 'cuda' or 'cuda:N'"),
    ]
    for name, ok, allowed in rules:
        if not ok:
            raise SettingError(f"setting {name}={cfg[name]!r} is not allowed: use {allowed}")


# ---------------------------------------------------------------------------- run

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

import gmm_module  # noqa: E402
import gmvae_module  # noqa: E402
import mlda_module  # noqa: E402
import mm_module  # noqa: E402
import tool  # noqa: E402
import vae_module  # noqa: E402


def pick_device(name):
    """'auto' -> CUDA when available, else CPU; an explicit CUDA device must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SettingError(f"setting device={name!r}: CUDA is not available here; use --device=cpu or auto")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SettingError(f"setting device={name!r}: not a device name; use 'auto', 'cpu', 'cuda' "
                           "or 'cuda:N'") from None
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise SettingError(f"setting device={name!r}: this machine has {torch.cuda.device_count()} CUDA "
                           f"device(s), numbered from 0; use --device=cuda:0 or auto")
    return device


def write_atomic(path, write):
    """Call write(file) on a temporary file beside path, then rename it into place."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:  # a full disk or an interrupt: leave no half-written file behind
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(err, OSError):
            raise RunError(f"cannot write {path}: {err.strerror or err}; check the folder's "
                           "permissions and free space") from None
        raise


def save_npy(path, array):
    write_atomic(path, lambda f: np.save(f, array))


def save_figure(path, fig):
    import matplotlib.pyplot as plt
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)


def save_text(path, text):
    write_atomic(path, lambda f: f.write(text.encode()))


def make_loaders(images, cfg, device):
    """train_loader (shuffled mini-batches) and all_loader (all data, in order), on device."""
    data = images.to(device)
    shuffle_gen = torch.Generator().manual_seed(cfg["seed"])
    train_loader = tool.IndexedBatches(data, cfg["batch_size"], shuffle=True, generator=shuffle_gen)
    all_loader = tool.IndexedBatches(data, 10000, shuffle=False)
    return train_loader, all_loader


def build_vae(cfg, device):
    net = vae_module.ConvVAE if cfg.get("architecture") == "conv" else vae_module.VAE
    try:
        return net(cfg.get("x_dim", 784), tuple(cfg["hidden_dims"]), cfg["latent_dim"]).to(device)
    except ValueError as err:
        raise SettingError(f"setting architecture='conv': {err}; use --architecture=dense") from None


IMAGES_PER_ROUND = 1_500_000  # vae_epochs=0: epochs a round = this / number of images (150 for 10,000)


def resolve_epochs(cfg, n):
    """cfg with vae_epochs=0 replaced by round(IMAGES_PER_ROUND / n), at least 1, for n images.

    So a round takes the same number of optimiser steps (and time) whatever the data size."""
    return cfg if cfg["vae_epochs"] else {**cfg, "vae_epochs": max(1, round(IMAGES_PER_ROUND / n))}


def gmm_prior(cfg, z):
    return gmm_module.make_prior(z, cfg["K"], cfg["gmm_alpha0"], cfg["gmm_beta0"],
                                 cfg["gmm_nu0"] or None, cfg["gmm_W0"] or None)


def train_model(mutual_iteration, dir_name, train_loader, all_loader, labels=None, cfg=None,
                resume=False, counts2=None, writer=None):
    """Mutual learning of VAE and GMM for mutual_iteration rounds; outputs into dir_name.

    With resume=True, continues after the last round recorded in dir_name/metrics.csv,
    restoring the networks, the GMM's assignments and every random generator, so the
    result equals that of an uninterrupted run. Returns the metric rows (metrics.csv).
    counts2: (N, W) counts of the second modality, for the multimodal models (cfg["model"]).
    writer: an optional TensorBoard SummaryWriter that gets every round's curves and scores.
    """
    device = all_loader.data.device
    n = len(all_loader.data)
    cfg = resolve_epochs(dict(SETTINGS if cfg is None else cfg), n)
    run = load_run(dir_name, cfg, n, device, train_loader) if resume else new_run(cfg, n, device)
    if not resume:
        save_text(f"{dir_name}/config.json", json.dumps(cfg, indent=2))
    bar = lambda r, desc: tqdm(r, desc=desc, leave=False, dynamic_ncols=True)  # noqa: E731
    for it in range(len(run["rows"]), mutual_iteration):
        start = time.time()
        if run["model"] is None or not cfg["warm_start_vae"]:
            torch.manual_seed(cfg["seed"] + 7919 * it)
            run["model"] = build_vae(cfg, device)
            run["optimizer"] = torch.optim.Adam(run["model"].parameters(), lr=cfg["lr"])
        model = run["model"]
        run["elbo_curves"][it] = vae_module.train(
            model, train_loader, run["prior_mu"], run["prior_var"], cfg["vae_epochs"], run["optimizer"],
            cfg["alpha"], generator=run["noise"], progress=lambda r: bar(r, f"round {it} VAE epochs"))
        eval_gen = torch.Generator(device=device)
        elbo = vae_module.evaluate_elbo(model, all_loader, run["prior_mu"], run["prior_var"],
                                        eval_gen.manual_seed(cfg["seed"]))
        z = vae_module.send_all_z(model, all_loader, cfg["send"] == "sample",
                                  eval_gen.manual_seed(cfg["seed"] + 1))
        gmm = gmm_module.fit_gibbs(
            z, cfg["K"], cfg["gmm_iter"], run["rng"], gmm_prior(cfg, z), cfg["gmm_init"],
            run["classes"] if cfg["warm_start_gmm"] else None, labels,
            progress=lambda r: bar(r, f"round {it} GMM sweeps"), bias=run["gmm_bias"],
            align_to=run["classes"], assign=cfg["gmm_assign"], map_bias=cfg["gmm_map_bias"])
        run["classes"] = gmm.classes
        run["prior_mu"], run["prior_var"] = gmm_messages(gmm.point_mu, gmm.point_var, cfg, device)
        row = {"round": it, "elbo": elbo, **last_scores(gmm.history)}
        upper = update_upper_modules(run, gmm, counts2, labels, cfg,
                                     lambda r, name: bar(r, f"round {it} {name} sweeps"))
        for name, result in upper.items():
            row.update(last_scores(result.history, prefix=f"{name}_"))
        row["seconds"] = round(time.time() - start, 1)
        save_round(dir_name, it, run, train_loader, z, gmm)
        save_upper_modules(dir_name, it, upper)
        run["rows"].append(row)
        plot_round(dir_name, it, z, labels, gmm, run["elbo_curves"], cfg, run["rows"])
        save_metrics(dir_name, run["rows"])  # last: a round is complete once its row is here
        log_round(writer, it, row, {"vae/elbo_per_epoch": (run["elbo_curves"][it], cfg["vae_epochs"]),
                                    **{f"{name}/{k}_per_sweep": (v, len(v))
                                       for name, res in {"gmm": gmm, **upper}.items()
                                       for k, v in res.history.items()}})
        print(format_row(row, mutual_iteration), flush=True)
    return run["rows"]


def tensorboard_writer(cfg):
    """TensorBoard's SummaryWriter class with --tensorboard=True, else None.

    Called before any work, so a missing package stops the run at once (SettingError)."""
    if not cfg["tensorboard"]:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise SettingError("setting tensorboard=True needs the tensorboard package: "
                           "pip install tensorboard, or leave tensorboard=False") from None
    return SummaryWriter


def log_round(writer, it, row, curves):
    """Round it's scores (step = round) and its curves (step = position across rounds).

    curves: {tag: (values, length of one round's curve)}, e.g. the ELBO of every epoch.
    """
    if writer is None:
        return
    for key, value in row.items():
        if key != "round" and value != "":
            writer.add_scalar(f"round/{key}", value, it)
    for tag, (values, per_round) in curves.items():
        for step, value in enumerate(values):
            writer.add_scalar(tag, value, it * per_round + step)
    writer.flush()


def last_scores(history, prefix=""):
    """ACC, NMI, ARI of the last sweep ('' without labels)."""
    return {prefix + k: (history[k][-1] if k in history else "") for k in ("acc", "nmi", "ari")}


def update_upper_modules(run, gmm, counts2, labels, cfg, bar):
    """Serket's MLDA (and MM) above the GMM; sets the messages they send down next round.

    MLDA: modality 0 is the GMM's class probabilities as pseudo-counts, modality 1 counts2;
    it sends the GMM its prediction of each point's GMM class. MM: learns the transitions
    of its states (which see the MLDA's classes) along the sequence and sends the MLDA its
    one-step predictions.
    """
    if cfg["model"] not in MULTIMODAL:
        return {}
    mlda = mlda_module.fit_mlda(
        [mlda_module.pseudo_counts(gmm.eta, cfg["mlda_weight"]), counts2], cfg["K"], cfg["mlda_iter"],
        run["rng"], cfg["mlda_alpha"], cfg["mlda_beta"], bias=run["mlda_bias"], labels=labels,
        progress=lambda r: bar(r, "MLDA"), theta_init=gmm.eta)
    run["gmm_bias"] = mlda.predict_words(0)
    upper = {"mlda": mlda}
    if cfg["model"] == "vae_gmm_mlda_mm":
        upper["mm"] = mm_module.fit_markov(mlda.class_prob, cfg["mm_iter"], run["rng"], cfg["mm_gamma"],
                                           labels=labels, progress=lambda r: bar(r, "MM"))
        run["mlda_bias"] = upper["mm"].prediction
    return upper


UPPER_DIRS = {"mlda": "module003_mlda", "mm": "module004_mm"}


def save_upper_modules(dir_name, it, upper):
    """module003_mlda/ and module004_mm/: class probabilities, classes, scores and
    log-likelihood per sweep, the messages sent down, and the MM's transition matrix."""
    for name, res in upper.items():
        d = f"{dir_name}/{UPPER_DIRS[name]}"
        if name == "mlda":
            arrays = {"class_prob": res.class_prob, "class": res.classes, "theta": res.theta,
                      "gmm_message": res.predict_words(0)}
            arrays.update({f"phi{m}": p for m, p in enumerate(res.phi)})
        else:
            arrays = {"transition": res.A, "emission": res.B, "class": res.states,
                      "mlda_message": res.prediction}
        arrays.update({k: np.array(v) for k, v in res.history.items()})
        for key, array in arrays.items():
            save_npy(f"{d}/{key}_{it}.npy", array)


def new_run(cfg, n, device):
    """The state of a run before round 0: prior N(0, I), no model, fresh generators."""
    D = cfg["latent_dim"]
    return {"model": None, "optimizer": None, "classes": None, "rows": [], "elbo_curves": {},
            "prior_mu": torch.zeros(n, D, device=device), "prior_var": torch.ones(n, D, device=device),
            "rng": np.random.default_rng(cfg["seed"]), "gmm_bias": None, "mlda_bias": None,
            "noise": torch.Generator(device=device).manual_seed(cfg["seed"])}


def gmm_messages(point_mu, point_var, cfg, device):
    """The GMM's per-image prior for the VAE, variances floored at prior_var_floor."""
    return (torch.as_tensor(point_mu, dtype=torch.float32, device=device),
            torch.as_tensor(np.maximum(point_var, cfg["prior_var_floor"]), dtype=torch.float32,
                            device=device))


# settings that may change on --resume
RESUMABLE = ("mutual_iteration", "resume", "device", "data_root", "dir_name", "sample_num",
             "tsne_points", "generate", "generate_round", "transit_from", "transit_to", "tensorboard")


def load_run(dir_name, cfg, n, device, train_loader):
    """The state of a run after its last complete round, read back from dir_name."""
    saved = load_run_config(dir_name)
    for name, value in cfg.items():
        if name not in RESUMABLE and json.loads(json.dumps(value)) != saved.get(name):
            raise SettingError(f"setting {name}={value!r} differs from the run in {dir_name} "
                               f"({saved.get(name)!r}); resume with the same settings")
    rows = read_metrics(dir_name)
    run = new_run(cfg, n, device)
    if not rows:
        return run
    it = len(rows) - 1
    ckpt = load_checkpoint(dir_name, it, device)
    run["model"] = build_vae(cfg, device)
    run["optimizer"] = torch.optim.Adam(run["model"].parameters(), lr=cfg["lr"])
    try:
        run["model"].load_state_dict(ckpt["model"])
        run["optimizer"].load_state_dict(ckpt["optimizer"])
        run["noise"].set_state(ckpt["noise_rng"].cpu())
        train_loader.generator.set_state(ckpt["shuffle_rng"].cpu())
        run["rng"].bit_generator.state = json.loads(ckpt["numpy_rng"])
    except (KeyError, RuntimeError, ValueError) as err:
        raise RunError(f"{dir_name}/pth/vae_{it}.pth does not fit this run ({err})") from None
    npy = lambda name: load_file(f"{dir_name}/npy/{name}_{it}.npy", np.load)  # noqa: E731
    state = gmm_module.GMMState(npy("pi"), npy("mu"), npy("lambda"))
    run["classes"] = npy("class")
    run["prior_mu"], run["prior_var"] = gmm_messages(*gmm_module.point_messages(state, run["classes"]),
                                                     cfg, device)
    if cfg["model"] in MULTIMODAL:
        run["gmm_bias"] = load_file(f"{dir_name}/module003_mlda/gmm_message_{it}.npy", np.load)
    if cfg["model"] == "vae_gmm_mlda_mm":
        run["mlda_bias"] = load_file(f"{dir_name}/module004_mm/mlda_message_{it}.npy", np.load)
    run["elbo_curves"] = {i: list(load_file(f"{dir_name}/npy/loss_{i}.npy", np.load))
                          for i in range(it + 1)}
    run["rows"] = rows
    return run


def load_checkpoint(model_dir, it, device):
    """pth/vae_{it}.pth of a run, mapped onto device (a CUDA checkpoint loads on a CPU)."""
    return load_file(f"{model_dir}/pth/vae_{it}.pth",
                     lambda p: torch.load(p, map_location=device, weights_only=True))


def load_vae(model_dir, it, cfg, device):
    """The VAE of round it of a saved run, rebuilt from its settings cfg."""
    model = build_vae(cfg, device)
    try:
        model.load_state_dict(load_checkpoint(model_dir, it, device)["model"])
    except (KeyError, RuntimeError) as err:
        raise RunError(f"{model_dir}/pth/vae_{it}.pth does not fit the run's config.json ({err})") from None
    return model


def load_file(path, load):
    """load(path), with a one-line RunError naming the file when it is missing or corrupt."""
    try:
        return load(path)
    except FileNotFoundError:
        raise RunError(f"{path} is missing; the run cannot be resumed from it") from None
    except Exception as err:  # truncated zip/pickle/npy files raise many different types
        raise RunError(f"{path} is truncated or corrupt ({type(err).__name__}); "
                       "delete the run or choose another --dir_name") from None


def read_metrics(dir_name):
    """Rows of metrics.csv (round as int, scores as float or ''); [] when there is none."""
    path = f"{dir_name}/metrics.csv"
    if not os.path.exists(path):
        return []
    with open(path) as f:
        rows = list(csv.DictReader(f))
    try:
        return [{k: int(v) if k == "round" else (float(v) if v != "" else "") for k, v in r.items()}
                for r in rows]
    except (TypeError, ValueError):
        raise RunError(f"{path} is corrupt; delete the run or choose another --dir_name") from None


def format_row(row, total):
    keys = [k for k in row if k.split("_")[-1] in ("acc", "nmi", "ari") and row[k] != ""]
    scores = ", ".join(f"{k.replace('_', ' ').upper()} {row[k]:.4f}" for k in keys)
    return (f"round {row['round']}/{total - 1}: ELBO {row['elbo']:.2f} nats/image"
            + (f", {scores}" if scores else "") + f", {row['seconds']:.1f} s")


def save_round(dir_name, it, run, train_loader, z, gmm):
    """Checkpoint and arrays of round it (each file written atomically).

    The checkpoint also holds every random generator's state, so --resume=True continues
    exactly where an uninterrupted run would be.
    """
    buf = io.BytesIO()
    torch.save({"model": run["model"].state_dict(), "optimizer": run["optimizer"].state_dict(),
                "noise_rng": run["noise"].get_state(), "shuffle_rng": train_loader.generator.get_state(),
                "numpy_rng": json.dumps(run["rng"].bit_generator.state)}, buf)
    write_atomic(f"{dir_name}/pth/vae_{it}.pth", lambda f: f.write(buf.getvalue()))
    arrays = {"loss": np.array(run["elbo_curves"][it]), "z": z, "class": gmm.classes, "eta": gmm.eta,
              "mu": gmm.state.mu, "lambda": gmm.state.Lambda, "pi": gmm.state.pi,
              "log_joint": np.array(gmm.history["log_joint"])}
    arrays.update({k: np.array(gmm.history[k]) for k in ("acc", "nmi", "ari") if k in gmm.history})
    for name, array in arrays.items():
        save_npy(f"{dir_name}/npy/{name}_{it}.npy", array)


def save_metrics(dir_name, rows):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    save_text(f"{dir_name}/metrics.csv", out.getvalue())


def plot_round(dir_name, it, z, labels, gmm, elbo_curves, cfg, rows):
    """ELBO curves, ACC per sweep and per round (rows: metrics so far), t-SNE and PCA of round it."""
    save_figure(f"{dir_name}/graph/vae_loss_{it}.png", tool.plot_elbo(elbo_curves))
    if labels is not None:
        save_figure(f"{dir_name}/graph/acc_{it}.png", tool.plot_acc(gmm.history, it))
        save_figure(f"{dir_name}/graph/scores.png", tool.plot_rounds(rows))
    plot_latents(dir_name, it, z, labels, cfg)


def plot_latents(dir_name, it, z, labels, cfg):
    """graph/z_pca_{it}.png (all latents) and z_tsne_{it}.png (tsne_points of them)."""
    pick = np.random.default_rng(cfg["seed"]).permutation(len(z))
    for method, count in (("pca", len(z)), ("tsne", cfg["tsne_points"])):
        if count == 0:
            continue
        sel = np.sort(pick[:count])
        z2 = tool.embed_2d(z[sel], method, cfg["seed"])
        title = f"round {it}: {method.upper()} of {len(sel)} latents, coloured by label"
        save_figure(f"{dir_name}/graph/z_{method}_{it}.png",
                    tool.plot_latent(z2, None if labels is None else labels[sel], title))


# The value that gives the behaviour of main.py before each of these settings existed: a
# config.json saved then lacks the key, and its run is read as having used this value.
BEFORE_SETTING_EXISTED = {"data_path": "", "label_path": "", "model": "vae_gmm", "serket_dir": "",
                          "mlda_weight": 200.0, "mlda_iter": 100, "mlda_alpha": 1.0, "mlda_beta": 1.0,
                          "mm_iter": 100, "mm_gamma": 1.0, "architecture": "dense", "w_dim": 10,
                          "gmm_assign": "sample", "gmm_map_bias": False}


def load_run_config(model_dir):
    """The settings a run in model_dir was made with (its config.json; see BEFORE_SETTING_EXISTED)."""
    path = os.path.join(model_dir, "config.json")
    if not os.path.exists(path):
        raise SettingError(f"no run in {model_dir!r}: config.json is missing; train first")

    def read(p):
        with open(p) as f:
            return json.load(f)
    return {**BEFORE_SETTING_EXISTED, **load_file(path, read)}


def decode_from_gmm_param(iteration, decode_k, sample_num, model_dir, device=None):
    """Decode sample_num latents drawn from cluster decode_k of round `iteration`.

    Draws from N(mu_k, Lambda_k^-1) of the saved GMM, decodes them with the saved VAE and
    writes recon/manual_{k}.png and graph/gause_I{iteration}k{k}.png. Works in a new
    process: the network is rebuilt from config.json and loads onto any device.
    """
    cfg = load_run_config(model_dir)
    device = pick_device("auto" if device is None else device)
    npy = lambda name: load_file(f"{model_dir}/npy/{name}_{iteration}.npy", np.load)  # noqa: E731
    mu, Lambda = npy("mu"), npy("lambda")
    if not 0 <= decode_k < len(mu):
        raise SettingError(f"decode_k={decode_k} is not a cluster of this run: use 0..{len(mu) - 1}")
    model = load_vae(model_dir, iteration, cfg, device)
    cov = np.linalg.inv(Lambda)
    rng = np.random.default_rng([cfg["seed"], iteration, decode_k])
    samples = rng.multivariate_normal(mu[decode_k], cov[decode_k], size=sample_num, method="cholesky")
    images = vae_module.decode(model, samples, device)
    if tool.image_side(images.shape[1]):
        import matplotlib.pyplot as plt
        grid = tool.image_grid(images)
        write_atomic(f"{model_dir}/recon/manual_{decode_k}.png",
                     lambda f: plt.imsave(f, grid, cmap="gray", vmin=0, vmax=1, format="png"))
    save_figure(f"{model_dir}/graph/gause_I{iteration}k{decode_k}.png",
                tool.plot_gmm(npy("z"), npy("class"), mu, cov, samples, decode_k))
    return images


def check_model_dir(model_dir, resume):
    """Refuse to mix two runs in one folder, and to resume a run that is not there."""
    exists = os.path.exists(os.path.join(model_dir, "config.json"))
    if resume and not exists:
        raise SettingError(f"setting resume=True: there is no run in {model_dir} to continue "
                           "(config.json is missing); start it without --resume")
    if not resume and exists:
        raise SettingError(f"{model_dir} already holds a run: continue it with --resume=True, "
                           "or choose another --dir_name")


def train_gmvae(dir_name, train_loader, all_loader, labels, cfg, writer=None):
    """The GMVAE baseline, trained end to end for vae_epochs, into the same output tree.

    Writes pth/gmvae.pth; npy/loss_0 (ELBO per epoch), z_0, eta_0 (p(y | w, z)), class_0
    and, with labels, acc_0/nmi_0/ari_0 per epoch; graph/vae_loss_0, acc_0, z_pca_0,
    z_tsne_0; recon/manual_{k}.png (images of every cluster); metrics.csv (one row).
    """
    device = all_loader.data.device
    cfg = resolve_epochs(cfg, len(all_loader.data))
    save_text(f"{dir_name}/config.json", json.dumps(cfg, indent=2))
    torch.manual_seed(cfg["seed"])
    model = gmvae_module.GMVAE(cfg["x_dim"], tuple(cfg["hidden_dims"]), cfg["latent_dim"], cfg["w_dim"],
                               cfg["K"], cfg["architecture"]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    history = {"acc": [], "nmi": [], "ari": []} if labels is not None else {}

    def score():
        if labels is not None:
            for name, value in tool.cluster_scores(labels, gmvae_module.assign(model, all_loader)[1].argmax(1)).items():
                history[name].append(value)
    start = time.time()
    noise = torch.Generator(device=device).manual_seed(cfg["seed"])
    elbo = gmvae_module.train(model, train_loader, cfg["vae_epochs"], optimizer, noise,
                              progress=lambda r: tqdm(r, desc="GMVAE epochs", leave=False), on_epoch=score)
    z, eta = gmvae_module.assign(model, all_loader)
    classes = eta.argmax(axis=1)
    row = {"round": 0, "elbo": elbo[-1], **last_scores(history), "seconds": round(time.time() - start, 1)}
    buf = io.BytesIO()
    torch.save({"model": model.state_dict()}, buf)
    write_atomic(f"{dir_name}/pth/gmvae.pth", lambda f: f.write(buf.getvalue()))
    arrays = {"loss": np.array(elbo), "z": z, "eta": eta, "class": classes}
    arrays.update({k: np.array(v) for k, v in history.items()})
    for name, array in arrays.items():
        save_npy(f"{dir_name}/npy/{name}_0.npy", array)
    save_figure(f"{dir_name}/graph/vae_loss_0.png", tool.plot_elbo({0: elbo}, {0: "GMVAE"}))
    if labels is not None:
        save_figure(f"{dir_name}/graph/acc_0.png", tool.plot_acc(history, 0, xlabel="GMVAE epoch"))
    plot_latents(dir_name, 0, z, labels, cfg)
    if tool.image_side(cfg["x_dim"]):
        import matplotlib.pyplot as plt
        gen = torch.Generator(device=device)
        for k in range(cfg["K"]):
            grid = tool.image_grid(gmvae_module.sample_cluster(model, k, cfg["sample_num"], gen.manual_seed(k)))
            write_atomic(f"{dir_name}/recon/manual_{k}.png",
                         lambda f: plt.imsave(f, grid, cmap="gray", vmin=0, vmax=1, format="png"))
    save_metrics(dir_name, [row])
    log_round(writer, 0, row, {"gmvae/elbo_per_epoch": (elbo, len(elbo)),
                               **{f"gmvae/{k}_per_epoch": (v, len(v)) for k, v in history.items()}})
    print(format_row(row, 1), flush=True)
    return [row]


def generate_images(cfg, model_dir, device):
    """--generate: a PNG grid from the saved run in model_dir (see tool.py for each kind)."""
    saved = load_run_config(model_dir)
    rounds = len(read_metrics(model_dir))
    it = cfg["generate_round"] if cfg["generate_round"] >= 0 else rounds - 1
    if not 0 <= it < rounds:
        raise SettingError(f"setting generate_round={cfg['generate_round']}: {model_dir} has rounds 0-{rounds - 1}")
    model = load_vae(model_dir, it, saved, device)
    npy = lambda name: load_file(f"{model_dir}/npy/{name}_{it}.npy", np.load)  # noqa: E731
    rng = np.random.default_rng([saved["seed"], it, 7])
    n = cfg["sample_num"]
    if cfg["generate"] == "clusters":
        z, nrow = tool.cluster_latents(npy("mu"), npy("lambda"), n, rng), n
    elif cfg["generate"] == "prior":
        z, nrow = tool.mixture_latents(npy("pi"), npy("mu"), npy("lambda"), n * n, rng), n
    else:
        latents = npy("z")
        for name in ("transit_from", "transit_to"):
            if cfg[name] >= len(latents):
                raise SettingError(f"setting {name}={cfg[name]}: the run has images 0-{len(latents) - 1}")
        z, nrow = tool.line_latents(latents[cfg["transit_from"]], latents[cfg["transit_to"]], n), n
    images = vae_module.decode(model, z, device)
    if not tool.image_side(images.shape[1]):
        raise SettingError(f"setting generate: the data have {images.shape[1]} values, not a square image")
    import matplotlib.pyplot as plt
    grid = tool.image_grid(images, nrow=nrow)
    path = f"{model_dir}/recon/{cfg['generate']}_{it}.png"
    write_atomic(path, lambda f: plt.imsave(f, grid, cmap="gray", vmin=0, vmax=1, format="png"))
    print(f"wrote {path}", flush=True)


def main(argv):
    cfg = parse_settings(argv)
    device = pick_device(cfg["device"])
    model_dir = os.path.join("model", cfg["dir_name"])
    if cfg["generate"]:
        return generate_images(cfg, model_dir, device)
    check_model_dir(model_dir, cfg["resume"])
    writer_class = tensorboard_writer(cfg)
    images, labels, counts2 = load_data(cfg)
    cfg["x_dim"] = images.shape[1]
    cfg["batch_size"] = min(cfg["batch_size"], len(images))
    print(f"device {device}, outputs in {model_dir}/", flush=True)
    train_loader, all_loader = make_loaders(images, cfg, device)
    writer = writer_class(f"{model_dir}/tensorboard") if writer_class else None
    try:
        if cfg["model"] == "gmvae":
            return train_gmvae(model_dir, train_loader, all_loader, labels, cfg, writer)
        train_model(cfg["mutual_iteration"], model_dir, train_loader, all_loader, labels, cfg,
                    resume=cfg["resume"], counts2=counts2, writer=writer)
    finally:
        if writer is not None:
            writer.close()
    last = cfg["mutual_iteration"] - 1
    for k in range(cfg["K"]):
        decode_from_gmm_param(last, k, cfg["sample_num"], model_dir, device=str(device))
    if tool.image_side(cfg["x_dim"]):
        print(f"decoded {cfg['sample_num']} samples of each cluster into {model_dir}/recon/", flush=True)
    else:
        print(f"P={cfg['x_dim']} is not a square number of pixels: no image grids were drawn", flush=True)


def load_data(cfg):
    """Images, labels (or None) and the second modality's counts (None but for MULTIMODAL).

    vae_gmm and gmvae: MNIST or the user's data_path; the multimodal models: the bundled MNIST and
    digits pairs, or Serket's files in serket_dir. Checks there are at least K points.
    """
    if cfg["label_path"] and not cfg["data_path"]:
        raise SettingError("setting label_path needs data_path: MNIST brings its own labels")
    counts2 = None
    try:
        if cfg["model"] in MULTIMODAL and cfg["serket_dir"]:
            images, counts2, labels = tool.load_serket_files(cfg["serket_dir"])
            what = f"{len(images)} pairs from {cfg['serket_dir']}"
        elif cfg["model"] in MULTIMODAL:
            images, counts2, labels = tool.load_digit_pairs(cfg["data_root"])
            what = f"{len(images)} pairs of an MNIST image and an sklearn digits sample"
        elif cfg["data_path"]:
            images, labels = tool.load_user_data(cfg["data_path"], cfg["label_path"])
            what = f"{len(images)} points of {images.shape[1]} values from {cfg['data_path']}"
        else:
            images, labels = tool.load_mnist(cfg["data_root"], cfg["n_data"])
            what = f"{len(images)} MNIST images"
    except tool.DataError as err:
        raise SettingError(str(err)) from None
    if len(images) < cfg["K"]:
        raise SettingError(f"setting K={cfg['K']} is more than the {what}: use K <= {len(images)}")
    print(what + ("" if labels is not None else " (no labels: ACC, NMI and ARI are left out)"),
          flush=True)
    return images, labels, counts2


def interrupted_message(argv):
    """One line saying what a stopped run kept and how to continue it."""
    try:
        cfg = parse_settings(argv)
        model_dir = os.path.join("model", cfg["dir_name"])
        done = len(read_metrics(model_dir))
    except (SettingError, RunError):
        return "main.py: interrupted"
    if done == 0:
        return f"main.py: interrupted before round 0 was complete; nothing of it was kept in {model_dir}"
    return (f"main.py: interrupted; rounds 0-{done - 1} are saved in {model_dir}; continue with "
            f"python main.py --dir_name={cfg['dir_name']} --resume=True (and the same settings)")


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        main(sys.argv[1:])
    except (SettingError, RunError) as err:
        sys.exit(f"main.py: {err}")
    except KeyboardInterrupt:
        sys.exit(interrupted_message(sys.argv[1:]))
    except OSError as err:  # an unwritable folder, a full disk
        where = f" {err.filename}" if getattr(err, "filename", None) else ""
        sys.exit(f"main.py: cannot write{where}: {err.strerror or err}; check the folder's "
                 "permissions and free space")
