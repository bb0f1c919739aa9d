"""The VAE of VAE+GMM (convolutional or dense) whose KL prior is a per-image Gaussian.

Round 0 uses the prior N(0, I); later rounds use, for image d, the Gaussian of the GMM
cluster it was assigned to, N(mu_d, diag v_d) (Neuro-SERKET; the maths in README).
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


LEARNING_RATE = 1e-3    # Adam's learning rate, in every round
PRIOR_VAR_FLOOR = 1e-3  # lower bound on the prior variances the GMM sends to the VAE


class VAE(nn.Module):
    """Dense VAE: x_dim -> hidden_dims -> (mean, log-variance) of latent_dim -> mirror.

    hidden_dims=(256,), latent_dim=12 is the original 784-256-12 network.
    """

    def __init__(self, x_dim=784, hidden_dims=(256,), latent_dim=12):
        super().__init__()
        self.encoder = _mlp((x_dim,) + tuple(hidden_dims))
        self.mean = nn.Linear(hidden_dims[-1], latent_dim)
        self.logvar = nn.Linear(hidden_dims[-1], latent_dim)
        self.decoder = nn.Sequential(_mlp((latent_dim,) + tuple(reversed(hidden_dims))),
                                     nn.Linear(hidden_dims[0], x_dim))

    def encode(self, o):
        """o (B, x_dim) -> mean, log-variance, each (B, latent_dim)."""
        h = self.encoder(o)
        return self.mean(h), self.logvar(h)

    def decode_logits(self, z):
        """z (B, latent_dim) -> Bernoulli logits (B, x_dim)."""
        return self.decoder(z)


class ConvVAE(VAE):
    """Convolutional VAE for square images whose side is a multiple of 4 (28 x 28 MNIST).

    Encoder: two stride-2 4x4 convolutions (32, 64 channels), one dense layer of
    hidden_dims[0] (hidden_dims holds that one size), then the mean and log-variance heads;
    the decoder mirrors it with transposed convolutions. Same interface (flat (B, x_dim)
    images) as the dense VAE.
    """

    def __init__(self, x_dim=784, hidden_dims=(256,), latent_dim=12):
        nn.Module.__init__(self)
        if len(hidden_dims) != 1:
            raise ValueError(f"a conv VAE has one dense layer, so hidden_dims holds one size, got {tuple(hidden_dims)}")
        self.side = int(round(x_dim ** 0.5))
        if self.side ** 2 != x_dim or self.side % 4:
            raise ValueError(f"a conv VAE needs square images with a side divisible by 4, got {x_dim} values")
        q, h = self.side // 4, hidden_dims[-1]
        self.encoder = nn.Sequential(
            nn.Unflatten(1, (1, self.side, self.side)),
            nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(64 * q * q, h), nn.ReLU())
        self.mean = nn.Linear(h, latent_dim)
        self.logvar = nn.Linear(h, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, h), nn.ReLU(), nn.Linear(h, 64 * q * q), nn.ReLU(),
            nn.Unflatten(1, (64, q, q)), nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 4, 2, 1), nn.Flatten())


def _mlp(sizes):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers)


def kl_to_prior(m, logvar, prior_mu, prior_var):
    """KL(N(m, diag s^2) || N(mu, diag v)) per row: (B,).

    1/2 sum_j [s^2/v + (m - mu)^2/v - 1 + log v - log s^2]; with mu = 0, v = 1 this is
    Kingma and Welling (2014) appendix B.
    """
    return 0.5 * (logvar.exp() / prior_var + (m - prior_mu) ** 2 / prior_var - 1.0
                  + prior_var.log() - logvar).sum(dim=1)


def loss_terms(model, o, prior_mu, prior_var, generator=None):
    """Reconstruction BCE and KL for each image of a batch: two (B,) tensors.

    z = m + s * eps (reparameterisation); prior rows belong to the batch's own images.
    """
    m, logvar = model.encode(o)
    eps = torch.randn(m.shape, generator=generator, device=m.device, dtype=m.dtype)
    z = m + (0.5 * logvar).exp() * eps
    rec = F.binary_cross_entropy_with_logits(model.decode_logits(z), o, reduction="none").sum(1)
    return rec, kl_to_prior(m, logvar, prior_mu, prior_var)


def train(model, loader, prior_mu, prior_var, epochs, optimizer, alpha=1.0, generator=None,
          progress=None, original_defects=False):
    """Minimise BCE + alpha * KL over `epochs` passes of `loader`; returns ELBO per epoch.

    loader yields (o (B, x_dim), idx (B,)); prior_mu, prior_var (N, latent_dim) tensors on
    the training device, indexed by idx so every image gets its own prior row. The ELBO
    reported is -(BCE + KL) per image in nats (alpha = 1 whatever the training weight).
    generator: a torch.Generator on the training device for the noise eps.
    original_defects: train as the original code did (batch_prior_rows), for its bench row.
    """
    model.train()
    epochs_iter = progress(range(epochs)) if progress else range(epochs)
    history = []
    for _ in epochs_iter:
        total = torch.zeros((), device=prior_mu.device)
        count = 0
        for batch_no, (o, idx) in enumerate(loader):
            rows, weight = (batch_prior_rows(idx, batch_no, alpha) if original_defects else (idx, alpha))
            rec, kl = loss_terms(model, o, prior_mu[rows], prior_var[rows], generator)
            loss = (rec + weight * kl).sum() / len(o)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += (rec + kl).detach().sum()
            count += len(o)
        history.append(-(total / count).item())
        if hasattr(epochs_iter, "set_postfix"):
            epochs_iter.set_postfix(elbo=f"{history[-1]:.2f}")
    return history


def replay_noise(generator, sizes, latent_dim, epochs):
    """Advance generator as `epochs` epochs of train draw from it: one (B, latent_dim)
    normal per mini-batch of B images, sizes the loader's (IndexedBatches.batch_sizes).
    A run folder keeps no generator state (its size and kind differ between CPU and CUDA);
    resuming replays the draws instead (a fraction of a second), on any device."""
    for _ in range(epochs):
        for size in sizes:
            torch.randn((size, latent_dim), generator=generator, device=generator.device)
    return generator


def batch_prior_rows(idx, batch_no, alpha):
    """The original code's two defects, kept only to reproduce its results (setting
    original_defects): every image of mini-batch number batch_no gets the prior row
    batch_no instead of its own (idx), and the KL is averaged over the batch while the
    reconstruction is summed, a KL weight of alpha / B. Returns rows (B,) and the weight."""
    return torch.full_like(idx, batch_no), alpha / len(idx)


@torch.no_grad()
def evaluate_elbo(model, loader, prior_mu, prior_var, generator=None):
    """ELBO per image (nats) over one pass of loader, one z sample per image."""
    model.eval()
    total, count = 0.0, 0
    for o, idx in loader:
        rec, kl = loss_terms(model, o, prior_mu[idx], prior_var[idx], generator)
        total += (rec + kl).sum().item()
        count += len(o)
    return -total / count


@torch.no_grad()
def send_all_z(model, loader, sample=False, generator=None):
    """Latents of all data in loader order: encoder mean, or a sample m + s * eps: (N, D) array."""
    model.eval()
    out = []
    for o, _ in loader:
        m, logvar = model.encode(o)
        if sample:
            eps = torch.randn(m.shape, generator=generator, device=m.device, dtype=m.dtype)
            m = m + (0.5 * logvar).exp() * eps
        out.append(m)
    return torch.cat(out).double().cpu().numpy()


@torch.no_grad()
def decode(model, z, device):
    """Latents z (S, D) array -> images (S, x_dim) array of Bernoulli means in [0, 1]."""
    model.eval()
    logits = model.decode_logits(torch.as_tensor(np.asarray(z), dtype=torch.float32, device=device))
    return torch.sigmoid(logits).cpu().numpy()


def build_vae(architecture, x_dim, hidden_dims, latent_dim):
    """A new VAE: 'conv' (ConvVAE, square images whose side is a multiple of 4) or 'dense'.

    Raises ValueError when 'conv' does not fit x_dim."""
    net = ConvVAE if architecture == "conv" else VAE
    return net(x_dim, tuple(hidden_dims), latent_dim)


def new_optimizer(model):
    """The Adam optimiser of every VAE here (and of the GMVAE baseline), at LEARNING_RATE."""
    return torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)


def prior_from_gmm(point_mu, point_var, device, var_floor=PRIOR_VAR_FLOOR):
    """The GMM's message as the VAE's per-image KL prior: two (N, D) float32 tensors on device,
    the variances floored at var_floor (a collapsed cluster would make the KL infinite)."""
    return (torch.as_tensor(point_mu, dtype=torch.float32, device=device),
            torch.as_tensor(np.maximum(point_var, var_floor), dtype=torch.float32, device=device))
