"""A run's state between rounds (RunState), new or read back from its run folder (resume).

A round's checkpoint restores all of it, random generators included, so a resumed run
gives the result of an uninterrupted one (load_run).
"""
import json
from dataclasses import dataclass, field

import numpy as np
import torch

import gmm_module
import vae_module
from run_folder import files
from settings.checks import MULTIMODAL, check_same_settings


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


def load_run(dir_name, cfg, n, device, train_loader):
    """The state of a run after its last complete round, read back from dir_name."""
    check_same_settings(cfg, files.load_run_config(dir_name), dir_name)
    rows = files.read_metrics(dir_name)
    run = new_run(cfg, n, device)
    if not rows:
        return run
    it = len(rows) - 1
    ckpt = files.load_checkpoint(dir_name, it, device)
    run.model = files.new_vae(cfg, device)
    run.optimizer = torch.optim.Adam(run.model.parameters(), lr=vae_module.LEARNING_RATE)
    try:
        run.model.load_state_dict(ckpt["model"])
        run.optimizer.load_state_dict(ckpt["optimizer"])
        run.noise.set_state(ckpt["noise_rng"].cpu())
        train_loader.generator.set_state(ckpt["shuffle_rng"].cpu())
        run.rng.bit_generator.state = json.loads(ckpt["numpy_rng"])
    except (KeyError, RuntimeError, ValueError) as err:
        raise files.RunError(f"{dir_name}/pth/vae_{it}.pth does not fit this run ({err})") from None
    run.gmm = files.load_gmm(dir_name, it)
    run.classes, run.z = files.load_array(dir_name, "class", it), files.load_array(dir_name, "z", it)
    run.prior_mu, run.prior_var = vae_module.prior_from_gmm(
        *gmm_module.point_messages(run.gmm, run.classes), device)
    if cfg["model"] in MULTIMODAL:
        run.gmm_bias = files.load_file(f"{dir_name}/{files.UPPER_DIRS['mlda']}/gmm_message_{it}.npy", np.load)
    if cfg["model"] == "vae_gmm_mlda_mm":
        run.mlda_bias = files.load_file(f"{dir_name}/{files.UPPER_DIRS['mm']}/mlda_message_{it}.npy", np.load)
    run.elbo_curves = {i: list(files.load_array(dir_name, "loss", i)) for i in range(it + 1)}
    run.rows = rows
    return run
