"""Images from a trained run: a cluster's samples (decode_from_gmm_param) and --generate.

Works in a new process: the network is rebuilt from the run's config.json and loads onto
any device. Right after training, main.py decodes from the models it has in memory.
"""
import numpy as np

import run_dir
import tool
import vae_module
from settings import SettingError, pick_device


def decode_cluster(model, gmm, z, classes, k, sample_num, seed, it, model_dir, device):
    """Decode sample_num latents drawn from N(mu_k, Lambda_k^-1) of the GMM gmm (GMMState).

    Writes recon/manual_{k}.png (when the data are square images) and
    graph/gause_I{it}k{k}.png (z (N, D) and classes (N,): the round's latents and
    assignments, drawn beside the samples). Returns the images (sample_num, P).
    """
    cov = np.linalg.inv(gmm.Lambda)
    rng = np.random.default_rng([seed, it, k])
    samples = rng.multivariate_normal(gmm.mu[k], cov[k], size=sample_num, method="cholesky")
    images = vae_module.decode(model, samples, device)
    if tool.image_side(images.shape[1]):
        run_dir.save_image_grid(f"{model_dir}/recon/manual_{k}.png", images)
    run_dir.save_figure(f"{model_dir}/graph/gause_I{it}k{k}.png",
                        tool.plot_gmm(z, classes, gmm.mu, cov, samples, k))
    return images


def decode_from_gmm_param(iteration, decode_k, sample_num, model_dir, device=None):
    """Decode sample_num latents drawn from cluster decode_k of round `iteration` of the
    saved run in model_dir (see decode_cluster); returns the images (sample_num, P)."""
    cfg = run_dir.load_run_config(model_dir)
    device = pick_device("auto" if device is None else device)
    gmm = run_dir.load_gmm(model_dir, iteration)
    if not 0 <= decode_k < len(gmm.mu):
        raise SettingError(f"decode_k={decode_k} is not a cluster of this run: use 0..{len(gmm.mu) - 1}")
    model = run_dir.load_vae(model_dir, iteration, cfg, device)
    z, classes = (run_dir.load_array(model_dir, name, iteration) for name in ("z", "class"))
    return decode_cluster(model, gmm, z, classes, decode_k, sample_num, cfg["seed"], iteration, model_dir,
                          device)


def generate_images(cfg, model_dir, device):
    """--generate: a PNG grid from the saved run in model_dir (see tool.py for each kind)."""
    saved = run_dir.load_run_config(model_dir)
    rounds = len(run_dir.read_metrics(model_dir))
    it = cfg["generate_round"] if cfg["generate_round"] >= 0 else rounds - 1
    if not 0 <= it < rounds:
        raise SettingError(f"setting generate_round={cfg['generate_round']}: {model_dir} has rounds 0-{rounds - 1}")
    model = run_dir.load_vae(model_dir, it, saved, device)
    rng = np.random.default_rng([saved["seed"], it, 7])
    n = cfg["sample_num"]
    if cfg["generate"] == "transit":
        latents = run_dir.load_array(model_dir, "z", it)
        for name in ("transit_from", "transit_to"):
            if cfg[name] >= len(latents):
                raise SettingError(f"setting {name}={cfg[name]}: the run has images 0-{len(latents) - 1}")
        z = tool.line_latents(latents[cfg["transit_from"]], latents[cfg["transit_to"]], n)
    else:
        gmm = run_dir.load_gmm(model_dir, it)
        z = (tool.cluster_latents(gmm.mu, gmm.Lambda, n, rng) if cfg["generate"] == "clusters"
             else tool.mixture_latents(gmm.pi, gmm.mu, gmm.Lambda, n * n, rng))
    images = vae_module.decode(model, z, device)
    if not tool.image_side(images.shape[1]):
        raise SettingError(f"setting generate: the data have {images.shape[1]} values, not a square image")
    path = f"{model_dir}/recon/{cfg['generate']}_{it}.png"
    run_dir.save_image_grid(path, images, nrow=n)
    print(f"wrote {path}", flush=True)
