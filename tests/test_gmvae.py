"""The GMVAE baseline: its ELBO terms against torch.distributions, shapes, a smoke run."""
import json
import math

import numpy as np
import pytest
import torch
from torch.distributions import Categorical, Independent, Normal, kl_divergence

from baselines import gmvae as gv
from helpers import run_main


@pytest.mark.parametrize("architecture", ["dense", "conv"])
def test_terms_match_torch_distributions(architecture):
    torch.manual_seed(0)
    model = gv.GMVAE(784, (32,), 3, w_dim=2, K=4, architecture=architecture)
    o = torch.rand(5, 784)
    g = torch.Generator().manual_seed(1)
    rec, kl_w, kl_y, kl_z, p_y = gv.loss_terms(model, o, g)
    # replay the same noise to rebuild z and w
    g = torch.Generator().manual_seed(1)
    (m_z, lv_z), (m_w, lv_w) = model.encode(o)
    z = m_z + (0.5 * lv_z).exp() * torch.randn(m_z.shape, generator=g)
    w = m_w + (0.5 * lv_w).exp() * torch.randn(m_w.shape, generator=g)
    mu_y, var_y = model.z_prior(w)
    q_w = Independent(Normal(m_w, (0.5 * lv_w).exp()), 1)
    torch.testing.assert_close(kl_w, kl_divergence(q_w, Independent(Normal(torch.zeros(2), torch.ones(2)), 1)))
    log_n = torch.stack([Independent(Normal(mu_y[:, k], var_y[:, k].sqrt()), 1).log_prob(z) for k in range(4)], 1)
    torch.testing.assert_close(p_y, torch.softmax(log_n, 1))
    torch.testing.assert_close(kl_y, kl_divergence(Categorical(probs=p_y), Categorical(probs=torch.full((5, 4), 0.25))))
    q_z = Independent(Normal(m_z, (0.5 * lv_z).exp()), 1)
    want = sum(p_y[:, k] * kl_divergence(q_z, Independent(Normal(mu_y[:, k], var_y[:, k].sqrt()), 1))
               for k in range(4))
    torch.testing.assert_close(kl_z, want)
    assert rec.shape == (5,) and torch.all(torch.isfinite(rec))


def test_training_raises_elbo_and_samples_are_images():
    torch.manual_seed(0)
    import tool
    data = (torch.rand(64, 784) > 0.7).float()
    model = gv.GMVAE(784, (32,), 3, w_dim=2, K=3)
    loader = tool.IndexedBatches(data, 16, shuffle=True, generator=torch.Generator().manual_seed(0))
    elbo = gv.train(model, loader, 10, torch.optim.Adam(model.parameters(), 1e-3))
    assert elbo[-1] > elbo[0] and np.all(np.isfinite(elbo))
    z, eta = gv.assign(model, tool.IndexedBatches(data, 10, shuffle=False))
    assert z.shape == (64, 3) and eta.shape == (64, 3) and np.allclose(eta.sum(1), 1)
    images = gv.sample_cluster(model, 2, 5)
    assert images.shape == (5, 784) and images.min() >= 0 and images.max() <= 1
    assert not math.isnan(float(images.sum()))


def test_main_gmvae_smoke_run(tiny_mnist, tmp_path):
    args = [f"--data_root={tiny_mnist}", "--model=gmvae", "--n_data=300", "--vae_epochs=3", "--batch_size=50",
            "--hidden_dims=32", "--latent_dim=4", "--tsne_points=100", "--sample_num=4",
            "--device=cpu", "--dir_name=g"]
    proc = run_main(tmp_path, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    d = tmp_path / "model" / "g"
    rows = (d / "metrics.csv").read_text().splitlines()
    assert rows[0] == "round,elbo,acc,nmi,ari,seconds" and len(rows) == 2
    assert len(np.load(d / "npy" / "acc_0.npy")) == 3 and np.load(d / "npy" / "eta_0.npy").shape == (300, 10)
    for name in ("graph/vae_loss_0.png", "graph/acc_0.png", "graph/z_tsne_0.png", "graph/z_pca_0.png",
                 "recon/manual_9.png", "pth/gmvae.pth"):
        assert (d / name).is_file(), name
    assert json.loads((d / "config.json").read_text())["model"] == "gmvae"
    again = run_main(tmp_path, *args, "--resume=True")
    assert again.returncode != 0 and "gmvae" in again.stderr and "Traceback" not in again.stderr
