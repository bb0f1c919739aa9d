"""The run folder model/<dir_name>/: the only code that reads or writes it.

Every file is written to a temporary name and renamed into place (write_atomic), and a
round's row in metrics.csv is written last, so a run stopped at any moment loses at most
the round in progress. RunState is what a round needs from the rounds before it; a
round's checkpoint restores all of it, random generators included (load_run).
"""
import csv
import io
import json
import os
from dataclasses import dataclass, field

import numpy as np
import torch

import gmm_module
import tool
import vae_module
from settings import MULTIMODAL, SettingError, check_same_settings, with_old_defaults

UPPER_DIRS = {"mlda": "module003_mlda", "mm": "module004_mm"}


class RunError(RuntimeError):
    """A run that cannot go on (a file missing, corrupt or unwritable); the message says which."""


@dataclass
class RunState:
    """The state of a run between rounds.

    prior_mu, prior_var: (N, D) tensors, every image's KL prior (N(0, I) before round 0).
    rng: the numpy Generator of the GMM and the modules above it; noise: the torch
    Generator of the VAE's reparameterisation noise. classes (N,), gmm (GMMState) and z
    (N, D): the last round's assignments, GMM parameters and latents. gmm_bias (N, K) and
    mlda_bias: the messages the MLDA and MM sent down. rows: metrics.csv so far;
    elbo_curves: {round: ELBO per epoch}.
    """
    prior_mu: torch.Tensor
    prior_var: torch.Tensor
    rng: np.random.Generator
    noise: torch.Generator
    model: torch.nn.Module = None
    optimizer: torch.optim.Optimizer = None
    classes: np.ndarray = None
    gmm: gmm_module.GMMState = None
    z: np.ndarray = None
    gmm_bias: np.ndarray = None
    mlda_bias: np.ndarray = None
    rows: list = field(default_factory=list)
    elbo_curves: dict = field(default_factory=dict)


def new_run(cfg, n, device):
    """The state of a run before round 0: prior N(0, I), no model, fresh generators."""
    D = cfg["latent_dim"]
    return RunState(torch.zeros(n, D, device=device), torch.ones(n, D, device=device),
                    np.random.default_rng(cfg["seed"]), torch.Generator(device=device).manual_seed(cfg["seed"]))


def new_vae(cfg, device):
    """A new VAE of the run's architecture for cfg['x_dim'] values per image, on device."""
    try:
        return vae_module.build_vae(cfg.get("architecture"), cfg.get("x_dim", 784), cfg["hidden_dims"],
                                    cfg["latent_dim"]).to(device)
    except ValueError as err:
        raise SettingError(f"setting architecture='conv': {err}; use --architecture=dense") from None


# ---------------------------------------------------------------- writing

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


def save_text(path, text):
    write_atomic(path, lambda f: f.write(text.encode()))


def save_torch(path, obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_atomic(path, lambda f: f.write(buf.getvalue()))


def save_figure(path, fig):
    import matplotlib.pyplot as plt
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)


def save_image_grid(path, images, nrow=None):
    """(S, P) images in [0, 1], P a square number, as one grey PNG grid."""
    import matplotlib.pyplot as plt
    grid = tool.image_grid(images, nrow=nrow)
    write_atomic(path, lambda f: plt.imsave(f, grid, cmap="gray", vmin=0, vmax=1, format="png"))


def save_config(dir_name, cfg):
    save_text(f"{dir_name}/config.json", json.dumps(cfg, indent=2))


def save_metrics(dir_name, rows):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    save_text(f"{dir_name}/metrics.csv", out.getvalue())


def save_round(dir_name, it, run, train_loader, gmm):
    """Checkpoint and arrays of round it (each file written atomically): run's model,
    optimiser, generators, ELBO curve and latents run.z, and the GMM's result gmm.

    The checkpoint also holds every random generator's state, so --resume=True continues
    exactly where an uninterrupted run would be.
    """
    save_torch(f"{dir_name}/pth/vae_{it}.pth",
               {"model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
                "noise_rng": run.noise.get_state(), "shuffle_rng": train_loader.generator.get_state(),
                "numpy_rng": json.dumps(run.rng.bit_generator.state)})
    arrays = {"loss": np.array(run.elbo_curves[it]), "z": run.z, "class": gmm.classes, "eta": gmm.eta,
              "mu": gmm.state.mu, "lambda": gmm.state.Lambda, "pi": gmm.state.pi,
              "log_joint": np.array(gmm.history["log_joint"])}
    arrays.update({k: np.array(gmm.history[k]) for k in ("acc", "nmi", "ari", "sweep_acc") if k in gmm.history})
    for name, array in arrays.items():
        save_npy(f"{dir_name}/npy/{name}_{it}.npy", array)


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


def plot_round(dir_name, it, z, labels, history, elbo_curves, cfg, rows, map_points=None):
    """ELBO curves, ACC per sweep (history) and per round (rows: metrics so far), t-SNE and
    PCA of round it's latents z (N, D); map_points: see plot_latents."""
    save_figure(f"{dir_name}/graph/vae_loss_{it}.png", tool.plot_elbo(elbo_curves))
    if labels is not None:
        save_figure(f"{dir_name}/graph/acc_{it}.png", tool.plot_acc(history, it))
        save_figure(f"{dir_name}/graph/scores.png", tool.plot_rounds(rows))
    plot_latents(dir_name, it, z, labels, cfg, map_points)


def plot_latents(dir_name, it, z, labels, cfg, map_points=None):
    """graph/z_pca_{it}.png (all latents) and z_tsne_{it}.png (tsne_points of them).

    map_points (N, 2): the t-SNE map the round's GMM started from (NaN for latents left out
    of it); when given, the plot shows tsne_points of its points instead of mapping again."""
    pick = np.random.default_rng(cfg["seed"]).permutation(len(z))
    for method, count in (("pca", len(z)), ("tsne", cfg["tsne_points"])):
        if count == 0:
            continue
        if method == "tsne" and map_points is not None:
            sel = np.sort(pick[np.isfinite(map_points[pick]).all(axis=1)][:count])
            z2, what = map_points[sel], f"the GMM's t-SNE map: {len(sel)} latents"
        else:
            sel = np.sort(pick[:count])
            z2, what = tool.embed_2d(z[sel], method, cfg["seed"]), f"{method.upper()} of {len(sel)} latents"
        save_figure(f"{dir_name}/graph/z_{method}_{it}.png",
                    tool.plot_latent(z2, None if labels is None else labels[sel],
                                     f"round {it}: {what}, coloured by label"))


def log_round(writer, it, row, curves):
    """TensorBoard (model/<dir_name>/tensorboard): round it's scores (step = round) and its
    curves (curves: {tag: (values, step of the first value)}, e.g. the ELBO of every epoch)."""
    if writer is None:
        return
    for key, value in row.items():
        if key != "round" and value != "":
            writer.add_scalar(f"round/{key}", value, it)
    for tag, (values, first_step) in curves.items():
        for step, value in enumerate(values):
            writer.add_scalar(tag, value, first_step + step)
    writer.flush()


# ---------------------------------------------------------------- reading

def load_file(path, load):
    """load(path), with a one-line RunError naming the file when it is missing or corrupt."""
    try:
        return load(path)
    except FileNotFoundError:
        raise RunError(f"{path} is missing; the run cannot be resumed from it") from None
    except Exception as err:  # truncated zip/pickle/npy files raise many different types
        raise RunError(f"{path} is truncated or corrupt ({type(err).__name__}); "
                       "delete the run or choose another --dir_name") from None


def load_array(dir_name, name, it):
    """npy/{name}_{it}.npy of a run."""
    return load_file(f"{dir_name}/npy/{name}_{it}.npy", np.load)


def load_gmm(dir_name, it):
    """The GMM parameters of round it of a saved run."""
    return gmm_module.GMMState(*(load_array(dir_name, name, it) for name in ("pi", "mu", "lambda")))


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


def load_run_config(model_dir):
    """The settings a run in model_dir was made with (its config.json, with_old_defaults)."""
    path = os.path.join(model_dir, "config.json")
    if not os.path.exists(path):
        raise SettingError(f"no run in {model_dir!r}: config.json is missing; train first")

    def read(p):
        with open(p) as f:
            return json.load(f)
    return with_old_defaults(load_file(path, read))


def check_model_dir(model_dir, resume):
    """Refuse to mix two runs in one folder, and to resume a run that is not there."""
    exists = os.path.exists(os.path.join(model_dir, "config.json"))
    if resume and not exists:
        raise SettingError(f"setting resume=True: there is no run in {model_dir} to continue "
                           "(config.json is missing); start it without --resume")
    if not resume and exists:
        raise SettingError(f"{model_dir} already holds a run: continue it with --resume=True, "
                           "or choose another --dir_name")


def load_checkpoint(model_dir, it, device):
    """pth/vae_{it}.pth of a run, mapped onto device (a CUDA checkpoint loads on a CPU)."""
    return load_file(f"{model_dir}/pth/vae_{it}.pth",
                     lambda p: torch.load(p, map_location=device, weights_only=True))


def load_vae(model_dir, it, cfg, device):
    """The VAE of round it of a saved run, rebuilt from its settings cfg."""
    model = new_vae(cfg, device)
    try:
        model.load_state_dict(load_checkpoint(model_dir, it, device)["model"])
    except (KeyError, RuntimeError) as err:
        raise RunError(f"{model_dir}/pth/vae_{it}.pth does not fit the run's config.json ({err})") from None
    return model


def load_run(dir_name, cfg, n, device, train_loader):
    """The state of a run after its last complete round, read back from dir_name."""
    check_same_settings(cfg, load_run_config(dir_name), dir_name)
    rows = read_metrics(dir_name)
    run = new_run(cfg, n, device)
    if not rows:
        return run
    it = len(rows) - 1
    ckpt = load_checkpoint(dir_name, it, device)
    run.model = new_vae(cfg, device)
    run.optimizer = torch.optim.Adam(run.model.parameters(), lr=cfg["lr"])
    try:
        run.model.load_state_dict(ckpt["model"])
        run.optimizer.load_state_dict(ckpt["optimizer"])
        run.noise.set_state(ckpt["noise_rng"].cpu())
        train_loader.generator.set_state(ckpt["shuffle_rng"].cpu())
        run.rng.bit_generator.state = json.loads(ckpt["numpy_rng"])
    except (KeyError, RuntimeError, ValueError) as err:
        raise RunError(f"{dir_name}/pth/vae_{it}.pth does not fit this run ({err})") from None
    run.gmm = load_gmm(dir_name, it)
    run.classes, run.z = load_array(dir_name, "class", it), load_array(dir_name, "z", it)
    run.prior_mu, run.prior_var = vae_module.prior_from_gmm(
        *gmm_module.point_messages(run.gmm, run.classes), cfg["prior_var_floor"], device)
    if cfg["model"] in MULTIMODAL:
        run.gmm_bias = load_file(f"{dir_name}/{UPPER_DIRS['mlda']}/gmm_message_{it}.npy", np.load)
    if cfg["model"] == "vae_gmm_mlda_mm":
        run.mlda_bias = load_file(f"{dir_name}/{UPPER_DIRS['mm']}/mlda_message_{it}.npy", np.load)
    run.elbo_curves = {i: list(load_array(dir_name, "loss", i)) for i in range(it + 1)}
    run.rows = rows
    return run


# ---------------------------------------------------------------- metrics rows

def last_scores(history, prefix=""):
    """ACC, NMI, ARI of the last sweep ('' without labels)."""
    return {prefix + k: (history[k][-1] if k in history else "") for k in ("acc", "nmi", "ari")}


def format_row(row, total):
    """The line printed after a round: ELBO, every score of the row, seconds."""
    keys = [k for k in row if k.split("_")[-1] in ("acc", "nmi", "ari") and row[k] != ""]
    scores = ", ".join(f"{k.replace('_', ' ').upper()} {row[k]:.4f}" for k in keys)
    return (f"round {row['round']}/{total - 1}: ELBO {row['elbo']:.2f} nats/image"
            + (f", {scores}" if scores else "") + f", {row['seconds']:.1f} s")
