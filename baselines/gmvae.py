"""Gaussian mixture VAE (GMVAE) of Dilokthanakul et al. 2016 (arXiv 1611.02648), a baseline.

Generative model: w ~ N(0, I), y ~ Cat(1/K), z | w, y ~ N(mu_y(w), diag sigma_y(w)^2),
o | z ~ Bernoulli(decoder(z)). Inference: q(w | o) and q(z | o) Gaussian from a shared
encoder; the cluster posterior p(y | w, z) ∝ p(y) N(z | mu_y(w), sigma_y(w)^2) is exact.
The per-image negative ELBO (their eq. 5), with one sample of w and z:

    BCE(o, decoder(z)) + KL(q(w) || N(0, I)) + KL(p(y | w, z) || Cat(1/K))
      + sum_y p(y | w, z) KL(q(z) || N(mu_y(w), sigma_y(w)^2))

Trained end to end; unlike VAE+GMM there are no rounds and no separate GMM.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from vae_module import ConvVAE, VAE, kl_to_prior

W_DIM = 10  # size of the latent w whose network sets the K Gaussians over z

class GMVAE(nn.Module):
    """Encoder heads for z (latent_dim) and w (w_dim), the prior network w -> K Gaussians
    over z, and the decoder, on top of a dense or conv VAE body."""

    def __init__(self, x_dim=784, hidden_dims=(256,), latent_dim=12, w_dim=10, K=10,
                 architecture="dense"):
        super().__init__()
        body = (ConvVAE if architecture == "conv" else VAE)(x_dim, hidden_dims, latent_dim)
        self.encoder, self.mean, self.logvar, self.decoder = body.encoder, body.mean, body.logvar, body.decoder
        h = hidden_dims[-1]
        self.w_mean, self.w_logvar = nn.Linear(h, w_dim), nn.Linear(h, w_dim)
        self.prior_net = nn.Sequential(nn.Linear(w_dim, h), nn.Tanh(), nn.Linear(h, 2 * K * latent_dim))
        self.K, self.latent_dim = K, latent_dim

    def encode(self, o):
        """o (B, x_dim) -> (m_z, logvar_z) (B, latent_dim) and (m_w, logvar_w) (B, w_dim)."""
        h = self.encoder(o)
        return (self.mean(h), self.logvar(h)), (self.w_mean(h), self.w_logvar(h))

    def z_prior(self, w):
        """w (B, w_dim) -> means and variances of p(z | w, y) for every y: (B, K, latent_dim) each."""
        out = self.prior_net(w).view(len(w), self.K, 2, self.latent_dim)
        return out[:, :, 0], F.softplus(out[:, :, 1]) + 1e-4

    def decode_logits(self, z):
        return self.decoder(z)


def cluster_posterior(z, mu_y, var_y):
    """p(y | w, z) ∝ N(z | mu_y, var_y) (uniform p(y)): z (B, D), mu_y, var_y (B, K, D) -> (B, K)."""
    log_n = -0.5 * (((z[:, None] - mu_y) ** 2) / var_y + var_y.log() + math.log(2 * math.pi)).sum(-1)
    return torch.softmax(log_n, dim=1)


def loss_terms(model, o, generator=None):
    """Per-image terms of the negative ELBO: rec, kl_w, kl_y, kl_z, each (B,); and p(y | w, z)."""
    (m_z, lv_z), (m_w, lv_w) = model.encode(o)
    noise = lambda m: torch.randn(m.shape, generator=generator, device=m.device, dtype=m.dtype)  # noqa: E731
    z = m_z + (0.5 * lv_z).exp() * noise(m_z)
    w = m_w + (0.5 * lv_w).exp() * noise(m_w)
    mu_y, var_y = model.z_prior(w)
    p_y = cluster_posterior(z, mu_y, var_y)
    rec = F.binary_cross_entropy_with_logits(model.decode_logits(z), o, reduction="none").sum(1)
    kl_w = kl_to_prior(m_w, lv_w, torch.zeros_like(m_w), torch.ones_like(m_w))
    kl_y = (p_y * (p_y.clamp_min(1e-12).log() + math.log(model.K))).sum(1)
    K, D = mu_y.shape[1], mu_y.shape[2]
    kl_zy = kl_to_prior(m_z.repeat_interleave(K, 0), lv_z.repeat_interleave(K, 0),
                        mu_y.reshape(-1, D), var_y.reshape(-1, D)).view(-1, K)
    return rec, kl_w, kl_y, (p_y * kl_zy).sum(1), p_y


def train(model, loader, epochs, optimizer, generator=None, progress=None, on_epoch=None):
    """Minimise the negative ELBO; returns the ELBO per image of every epoch (nats).

    on_epoch: optional callable run after every epoch (e.g. to score the clusters).
    """
    history = []
    for _ in progress(range(epochs)) if progress else range(epochs):
        model.train()
        total, count = torch.zeros((), device=next(model.parameters()).device), 0
        for o, _ in loader:
            rec, kl_w, kl_y, kl_z, _ = loss_terms(model, o, generator)
            loss = (rec + kl_w + kl_y + kl_z).sum()
            optimizer.zero_grad(set_to_none=True)
            (loss / len(o)).backward()
            optimizer.step()
            total += loss.detach()
            count += len(o)
        history.append(-(total / count).item())
        if on_epoch:
            on_epoch()
    return history


@torch.no_grad()
def assign(model, loader):
    """Encoder means z (N, latent_dim), p(y | w, z) at the means (N, K), in loader order."""
    model.eval()
    zs, ps = [], []
    for o, _ in loader:
        (m_z, _), (m_w, _) = model.encode(o)
        mu_y, var_y = model.z_prior(m_w)
        zs.append(m_z)
        ps.append(cluster_posterior(m_z, mu_y, var_y))
    return torch.cat(zs).double().cpu().numpy(), torch.cat(ps).double().cpu().numpy()


@torch.no_grad()
def sample_cluster(model, k, n, generator=None):
    """n images of cluster k: w ~ N(0, I), z ~ p(z | w, y=k), Bernoulli means: (n, x_dim)."""
    model.eval()
    device = next(model.parameters()).device
    w = torch.randn((n, model.w_mean.out_features), generator=generator, device=device)
    mu_y, var_y = model.z_prior(w)
    z = mu_y[:, k] + var_y[:, k].sqrt() * torch.randn(mu_y[:, k].shape, generator=generator, device=device)
    return torch.sigmoid(model.decode_logits(z)).cpu().numpy()
