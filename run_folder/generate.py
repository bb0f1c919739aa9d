"""--generate: images from a saved run, in a new process (the network is rebuilt from the
run's config.json and loads onto any device): a cluster's samples, the learned prior
(the GMM mixture), or the line between two images' latents.
"""
import numpy as np

import gmm_module
import tool
import vae_module
from run_folder import files
from settings.checks import SettingError


def cluster_latents(mu, Lambda, n, rng):
    """n latents from every cluster k, N(mu_k, Lambda_k^-1), cluster by cluster: (K n, D)."""
    cov = gmm_module.covariances(Lambda)
    return np.concatenate([rng.multivariate_normal(m, c, size=n, method="cholesky")
                           for m, c in zip(mu, cov)])


def mixture_latents(pi, mu, Lambda, n, rng):
    """n latents from the GMM mixture sum_k pi_k N(mu_k, Lambda_k^-1), the learned prior: (n, D)."""
    ks = rng.choice(len(pi), size=n, p=pi / pi.sum())
    cov = gmm_module.covariances(Lambda)
    return np.stack([rng.multivariate_normal(mu[k], cov[k], method="cholesky") for k in ks])


def line_latents(z_from, z_to, n):
    """n latents evenly spaced on the straight line from z_from to z_to: (n, D)."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) * z_from[None, :] + t * z_to[None, :]


def generate_images(cfg, model_dir, device):
    """--generate: a PNG grid from the saved run in model_dir (cluster_latents, mixture_latents or line_latents)."""
    saved = files.load_run_config(model_dir)
    rounds = len(files.read_metrics(model_dir))
    it = cfg["generate_round"] if cfg["generate_round"] >= 0 else rounds - 1
    if not 0 <= it < rounds:
        raise SettingError(f"setting generate_round={cfg['generate_round']}: {model_dir} has rounds 0-{rounds - 1}")
    model = files.load_vae(model_dir, it, saved, device)
    rng = np.random.default_rng([saved["seed"], it, 7])
    n = cfg["sample_num"]
    if cfg["generate"] == "transit":
        latents = files.load_array(model_dir, "z", it)
        if max(cfg["transit"]) >= len(latents):
            raise SettingError(f"setting transit={cfg['transit']}: the run has images 0-{len(latents) - 1}")
        z = line_latents(latents[cfg["transit"][0]], latents[cfg["transit"][1]], n)
    else:
        gmm = files.load_gmm(model_dir, it)
        z = (cluster_latents(gmm.mu, gmm.Lambda, n, rng) if cfg["generate"] == "clusters"
             else mixture_latents(gmm.pi, gmm.mu, gmm.Lambda, n * n, rng))
    images = vae_module.decode(model, z, device)
    if not tool.image_side(images.shape[1]):
        raise SettingError(f"setting generate: the data have {images.shape[1]} values, not a square image")
    path = f"{model_dir}/recon/{cfg['generate']}_{it}.png"
    files.save_image_grid(path, images, nrow=n)
    print(f"wrote {path}", flush=True)
