"""A run's state between rounds (RunState), new or read back from its run folder (resume).

A round's files restore all of it, random generators included, so a resumed run gives the
result of an uninterrupted one on the same device (load_run). Nothing in them depends on
the device: the VAE's noise generator is rebuilt by replaying its draws
(vae_module.replay_noise), so a run started on CUDA resumes on a CPU and the reverse.
"""
import json
from dataclasses import dataclass, field

import numpy as np
import torch

import gmm_module
import vae_module
from run_folder import files
from serket import upper
from settings import checks
from settings.checks import MULTIMODAL, check_same_settings


@dataclass
class RunState:
    """The state of a run between rounds.

    prior_mu, prior_var: (N, D) tensors, every image's KL prior (N(0, I) before round 0).
    rng: the numpy Generator of the GMM and the modules above it; noise: the torch
    Generator of the VAE's reparameterisation noise, on the training device. classes (N,), gmm (GMMState) and z
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


def gmm_prior_settings(cfg):
    """The GMM prior's arguments of gmm_module.make_prior: PRIOR, or with original_defects
    the original code's prior for latent_dim dimensions."""
    if cfg["original_defects"]:
        return gmm_module.original_prior(cfg["latent_dim"])
    return dict(gmm_module.PRIOR)


def run_record(cfg, n, device):
    """What a run used beyond its settings, saved with them in config.json and checked on
    resume like them (RECORDED): the device (and on CUDA whether its kernels are the
    deterministic ones, make_repeatable), the number of images loaded, and the module
    constants that shape a result (learning rate, prior-variance floor, GMM prior, MLDA
    weight, the epoch and map rules of settings.checks)."""
    return {"device_used": str(device), "images": n, "cuda_deterministic": cuda_deterministic(device),
            "learning_rate": vae_module.LEARNING_RATE, "prior_var_floor": vae_module.PRIOR_VAR_FLOOR,
            "gmm_prior": gmm_prior_settings(cfg), "mlda_weight": upper.MLDA_WEIGHT,
            "round0_images": checks.ROUND0_IMAGES, "round0_epochs": checks.ROUND0_EPOCHS,
            "mutual_share": checks.MUTUAL_SHARE, "tsne_all_points": checks.TSNE_ALL_POINTS}


def cuda_deterministic(device):
    """On CUDA, whether the switches of settings.checks.make_repeatable are on; None on the CPU."""
    if device.type != "cuda":
        return None
    return (torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
            and torch.are_deterministic_algorithms_enabled() and not torch.backends.cuda.matmul.allow_tf32
            and not torch.backends.cudnn.allow_tf32)


# run_record's keys, which an older run's config.json may lack: there they mean today's values
RECORDED = ("images", "learning_rate", "prior_var_floor", "gmm_prior", "mlda_weight", "round0_images",
            "round0_epochs", "mutual_share", "tsne_all_points")


def saved_settings(dir_name, cfg):
    """The saved run's config.json, a key of RECORDED it lacks read as cfg's (today's) value."""
    saved = files.load_run_config(dir_name)
    return {**{k: json.loads(json.dumps(cfg[k])) for k in RECORDED if k in cfg}, **saved}


def new_run(cfg, n, device):
    """The state of a run before round 0: prior N(0, I), no model, fresh generators."""
    D = cfg["latent_dim"]
    return RunState(torch.zeros(n, D, device=device), torch.ones(n, D, device=device),
                    np.random.default_rng(cfg["seed"]), torch.Generator(device=device).manual_seed(cfg["seed"]))


def noise_generator(cfg, device, train_loader, rounds_done):
    """The VAE's noise generator on device, seeded with the run's seed and advanced past
    the draws of its first rounds_done rounds on train_loader's batches (vae_module.replay_noise)."""
    generator = torch.Generator(device=device).manual_seed(cfg["seed"])
    epochs = sum(checks.round_epochs(cfg, it) for it in range(rounds_done))
    return vae_module.replay_noise(generator, train_loader.batch_sizes(), cfg["latent_dim"], epochs)


def gmm_message(cfg, gmm_state, classes, z, device):
    """The GMM's message to the VAE as its per-image prior: two (N, D) tensors on device.
    message "point": the Gaussian of each point's cluster (classes (N,)); "expected": the
    Gaussian whose KL is the KL expected under the GMM's own cluster probabilities of the
    latents z (N, D), without the map's vote (gmm_module.expected_kl_messages)."""
    if cfg.get("message", "point") == "expected":
        mean, var = gmm_module.expected_kl_messages(gmm_state, gmm_module.responsibilities(z, gmm_state))
    else:
        mean, var = gmm_module.point_messages(gmm_state, classes)
    return vae_module.prior_from_gmm(mean, var, device)


def load_run(dir_name, cfg, n, device, train_loader):
    """The state of a run after its last complete round, read back from dir_name."""
    check_same_settings(cfg, saved_settings(dir_name, cfg), dir_name)
    rows = files.read_metrics(dir_name)
    run = new_run(cfg, n, device)
    if not rows:
        return run
    run.noise = noise_generator(cfg, device, train_loader, len(rows))
    it = len(rows) - 1
    ckpt = files.load_checkpoint(dir_name, it, device)
    run.model = files.new_vae(cfg, device)
    run.optimizer = vae_module.new_optimizer(run.model)
    path = f"{dir_name}/pth/vae_{it}.pth"
    missing = {"model", "optimizer", "shuffle_rng", "numpy_rng"} - set(ckpt)
    if missing:
        raise files.RunError(f"{path} lacks {', '.join(sorted(missing))}: it was not written by this code")
    try:
        run.model.load_state_dict(ckpt["model"])
        run.optimizer.load_state_dict(ckpt["optimizer"])
    except (RuntimeError, ValueError) as err:  # a layer or parameter group of another size
        raise files.RunError(f"{path} does not fit this run's networks ({files.cause(err)})") from None
    train_loader.generator.set_state(ckpt["shuffle_rng"].cpu())  # a CPU generator's state on every device
    run.rng.bit_generator.state = json.loads(ckpt["numpy_rng"])
    run.gmm = files.load_gmm(dir_name, it)
    run.classes, run.z = files.load_array(dir_name, "class", it), files.load_array(dir_name, "z", it)
    run.prior_mu, run.prior_var = gmm_message(cfg, run.gmm, run.classes, run.z, device)
    if cfg["model"] in MULTIMODAL:
        run.gmm_bias = files.load_file(f"{dir_name}/{files.UPPER_DIRS['mlda']}/gmm_message_{it}.npy", np.load)
    if cfg["model"] == "vae_gmm_mlda_mm":
        run.mlda_bias = files.load_file(f"{dir_name}/{files.UPPER_DIRS['mm']}/mlda_message_{it}.npy", np.load)
    run.elbo_curves = {i: list(files.load_array(dir_name, "loss", i)) for i in range(it + 1)}
    run.rows = rows
    return run
