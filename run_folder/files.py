"""The run folder model/<dir_name>/: the only code that reads or writes its files.

Every file is written to a temporary name and renamed into place (write_atomic), and a
round's row in metrics.csv is written last, so a run stopped at any moment loses at most
the round in progress. run_folder.state restores a run from these files (resume).
"""
import csv
import io
import json
import math
import os
import pickle
import re
import zipfile

import numpy as np
import torch

import gmm_module
import vae_module
from settings.checks import SettingError

UPPER_DIRS = {"mlda": "module003_mlda", "mm": "module004_mm"}


class RunError(RuntimeError):
    """A run that cannot go on (a file missing, corrupt or unwritable); the message says which."""


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
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
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
    """A matplotlib Figure as a PNG (no pyplot: figures are built as matplotlib.figure.Figure,
    so importing this project leaves matplotlib's backend as it was)."""
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=100))


def save_image_grid(path, images, nrow=None):
    """(S, P) images in [0, 1], P a square number, as one grey PNG grid."""
    from matplotlib.image import imsave
    grid = image_grid(images, nrow=nrow)
    write_atomic(path, lambda f: imsave(f, grid, cmap="gray", vmin=0, vmax=1, format="png"))


def image_grid(images, nrow=None):
    """(S, P) images with P a square number -> (H, W) grid array for saving as PNG."""
    from torchvision.utils import make_grid
    side = int(round(math.sqrt(images.shape[1])))
    t = torch.as_tensor(images).reshape(-1, 1, side, side)
    grid = make_grid(t, nrow=nrow or int(math.ceil(math.sqrt(len(t)))), pad_value=1.0)
    return grid[0].numpy()


def save_config(dir_name, cfg):
    save_text(f"{dir_name}/config.json", json.dumps(cfg, indent=2))


def save_metrics(dir_name, rows):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    save_text(f"{dir_name}/metrics.csv", out.getvalue())


def save_round(dir_name, it, run, train_loader, gmm, history):
    """Checkpoint and arrays of round it (each file written atomically): run's model,
    optimiser, generators, ELBO curve and latents run.z, the GMM's result gmm and the
    history of its sweeps (log joint, messages, scores).

    The checkpoint also holds the states of the shuffling generator (a CPU generator on
    every device) and of the GMM's numpy Generator, so --resume=True continues exactly where
    an uninterrupted run would be; the VAE's noise generator, whose state differs between
    CPU and CUDA, is rebuilt by replaying its draws instead (run_folder.state).
    Nothing in the files depends on the device that wrote them.
    """
    save_torch(f"{dir_name}/pth/vae_{it}.pth",
               {"model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
                "shuffle_rng": train_loader.generator.get_state(),
                "numpy_rng": json.dumps(run.rng.bit_generator.state)})
    arrays = {"loss": np.array(run.elbo_curves[it]), "z": run.z, "class": gmm.classes, "eta": gmm.eta,
              "mu": gmm.state.mu, "lambda": gmm.state.Lambda, "pi": gmm.state.pi}
    arrays.update({k: np.array(v) for k, v in history.items()})
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
    """load(path), with a one-line RunError that names the file and the cause when the file
    is missing, unreadable, refused by torch.load(weights_only=True), or truncated or corrupt."""
    try:
        return load(path)
    except FileNotFoundError:
        raise RunError(f"{path} is missing; the run cannot be resumed from it") from None
    except (PermissionError, IsADirectoryError) as err:
        raise RunError(f"cannot read {path}: {err.strerror}; check the file's permissions") from None
    except pickle.UnpicklingError as err:  # torch.load(weights_only=True) refuses what it holds
        raise RunError(f"{path} holds objects that torch.load(weights_only=True) refuses "
                       f"({cause(err, 'WeightsUnpickler error')}); it was not written by this code") from None
    except (OSError, EOFError, ValueError, RuntimeError, zipfile.BadZipFile) as err:  # npy, json, torch's zip
        raise RunError(f"{path} is truncated or corrupt ({type(err).__name__}: {cause(err)}); "
                       "delete the run or choose another --dir_name") from None


def cause(err, marker=None):
    """The line of an exception's message that gives its cause: the first one holding marker,
    else the first line (its type name when it has none), without terminal colour codes."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(err).splitlines()]
    lines = [line for line in lines if line] or [type(err).__name__]
    return next((line for line in lines if marker and marker in line), lines[0])


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
    """The settings a run in model_dir was made with (its config.json)."""
    path = os.path.join(model_dir, "config.json")
    if not os.path.exists(path):
        raise SettingError(f"no run in {model_dir!r}: config.json is missing; train first")

    def read(p):
        with open(p) as f:
            return json.load(f)
    return load_file(path, read)


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
