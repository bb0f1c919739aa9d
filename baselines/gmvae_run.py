"""The GMVAE baseline's run (--model=gmvae): trained end to end, saved into the same
output tree as a VAE+GMM run, so plots, scores and images compare one to one."""
import time

import numpy as np
import torch
from tqdm import tqdm

import tool
import vae_module
from baselines import gmvae as gmvae_module
from run_folder import files, plots
from run_folder.state import run_record
from settings.checks import resolve_epochs


def train_gmvae(dir_name, train_loader, all_loader, labels, cfg, writer=None):
    """The GMVAE baseline, trained for vae_epochs, into dir_name.

    Writes pth/gmvae.pth; npy/loss_0 (ELBO per epoch), z_0, eta_0 (p(y | w, z)), class_0
    and, with labels, acc_0/nmi_0/ari_0 per epoch; graph/vae_loss_0, acc_0, z_pca_0,
    z_tsne_0; recon/manual_{k}.png (images of every cluster); metrics.csv (one row).
    """
    device = all_loader.data.device
    cfg = resolve_epochs(cfg, len(all_loader.data))
    cfg = {**cfg, "x_dim": all_loader.data.shape[1], **run_record(cfg, len(all_loader.data), device)}
    files.save_config(dir_name, cfg)
    torch.manual_seed(cfg["seed"])
    model = gmvae_module.GMVAE(cfg["x_dim"], tuple(cfg["hidden_dims"]), cfg["latent_dim"], gmvae_module.W_DIM,
                               cfg["K"], cfg["architecture"]).to(device)
    optimizer = vae_module.new_optimizer(model)
    history = {"acc": [], "nmi": [], "ari": []} if labels is not None else {}

    def score():
        if labels is not None:
            classes = gmvae_module.assign(model, all_loader)[1].argmax(1)
            for name, value in tool.cluster_scores(labels, classes).items():
                history[name].append(value)
    start = time.time()
    noise = torch.Generator(device=device).manual_seed(cfg["seed"])
    elbo = gmvae_module.train(model, train_loader, cfg["vae_epochs"], optimizer, noise,
                              progress=lambda r: tqdm(r, desc="GMVAE epochs", leave=False), on_epoch=score)
    z, eta = gmvae_module.assign(model, all_loader)
    row = {"round": 0, "elbo": elbo[-1], **files.last_scores(history), "seconds": round(time.time() - start, 1)}
    files.save_torch(f"{dir_name}/pth/gmvae.pth", {"model": model.state_dict()})
    arrays = {"loss": np.array(elbo), "z": z, "eta": eta, "class": eta.argmax(axis=1)}
    arrays.update({k: np.array(v) for k, v in history.items()})
    for name, array in arrays.items():
        files.save_npy(f"{dir_name}/npy/{name}_0.npy", array)
    files.save_figure(f"{dir_name}/graph/vae_loss_0.png", plots.plot_elbo({0: elbo}, {0: "GMVAE"}))
    if labels is not None:
        files.save_figure(f"{dir_name}/graph/acc_0.png", plots.plot_acc(history, 0, xlabel="GMVAE epoch"))
    plots.plot_latents(dir_name, 0, z, labels, cfg)
    if tool.image_side(cfg["x_dim"]):
        gen = torch.Generator(device=device)
        for k in range(cfg["K"]):
            files.save_image_grid(f"{dir_name}/recon/manual_{k}.png",
                                    gmvae_module.sample_cluster(model, k, cfg["sample_num"], gen.manual_seed(k)))
    files.save_metrics(dir_name, [row])
    files.log_round(writer, 0, row, {"gmvae/elbo_per_epoch": (elbo, 0),
                                       **{f"gmvae/{k}_per_epoch": (v, 0) for k, v in history.items()}})
    print(files.format_row(row, 1), flush=True)
    return [row]
