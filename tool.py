"""Mini-batches, plots and image grids used by main.py (data: data.py; scores: stats.py).

Plot functions return a matplotlib Figure; main.py decides where it is saved.
"""
import math

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

# ---------------------------------------------------------------- mini-batches

class IndexedBatches:
    """Mini-batches (o, idx) of a tensor held on the training device.

    idx (B,) are the rows of the batch in the full data set, so per-point priors can be
    gathered with exactly the batch's permutation. shuffle=False gives an in-order pass.
    """

    def __init__(self, data, batch_size, shuffle, generator=None):
        self.data, self.batch_size, self.shuffle = data, batch_size, shuffle
        self.generator = generator

    def __len__(self):
        return math.ceil(len(self.data) / self.batch_size)

    def __iter__(self):
        n = len(self.data)
        order = (torch.randperm(n, generator=self.generator).to(self.data.device)
                 if self.shuffle else torch.arange(n, device=self.data.device))
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            yield self.data[idx], idx


# ---------------------------------------------------------------- plots

def plot_elbo(curves, names=None):
    """ELBO per epoch of every round so far; curves: {round: [elbo per epoch]}; names: legend."""
    fig, ax = plt.subplots(figsize=(6, 4))
    colors = plt.cm.viridis(np.linspace(0, 0.9, max(len(curves), 1)))
    for color, (it, elbo) in zip(colors, sorted(curves.items())):
        name = (names or {}).get(it, f"round {it}" + (" (prior N(0, I))" if it == 0 else " (GMM prior)"))
        ax.plot(np.arange(1, len(elbo) + 1), elbo, color="tab:red" if it == 0 else color, label=name)
    ax.set_xlabel("VAE epoch")
    ax.set_ylabel("ELBO per image (nats)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_score_lines(x, scores, marker):
    """Figure and axes with ACC, NMI and ARI (scores: {'acc': values, ...}) against integer x.

    The x axis spans x with integer ticks, so a single value still gets a tick.
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in ("acc", "nmi", "ari"):
        ax.plot(x, scores[name], marker=marker, label=name.upper())
    ax.set_xlim(x[0] - 0.5, x[-1] + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.legend()
    ax.grid(alpha=0.3)
    return fig, ax


def plot_acc(history, it, xlabel="Gibbs sweep"):
    """ACC (and NMI, ARI) per Gibbs sweep of one round (or per epoch of the GMVAE).

    Up to 20 sweeps a marker shows every value, so a round of one sweep (the default) is a
    point, not an invisible line of length zero.
    """
    n = len(history["acc"])
    fig, ax = plot_score_lines(np.arange(1, n + 1), history, "o" if n <= 20 else None)
    if "sweep_acc" in history:  # a chain reporting averaged probabilities: each sweep alone too
        ax.plot(np.arange(1, n + 1), history["sweep_acc"], ":", color="grey", label="ACC of the sweep alone")
        ax.legend()
    ax.set_xlabel(xlabel)
    ax.set_ylabel("score")
    ax.set_ylim(0, 1)
    ax.set_title(f"round {it}: final ACC {history['acc'][-1]:.3f}")
    fig.tight_layout()
    return fig


def plot_rounds(rows):
    """ACC, NMI and ARI of every round so far; rows: metrics.csv's rows (dicts), round 0 first.

    Round 0 is the VAE alone, then the GMM (the two-stage baseline); the later rounds are
    mutual learning, so the curve shows what it adds. The y axis fits the scores.
    """
    rounds = [row["round"] for row in rows]
    fig, ax = plot_score_lines(rounds, {k: [row[k] for row in rows] for k in ("acc", "nmi", "ari")}, "o")
    ax.set_xlabel("round (0: VAE, then GMM; later: mutual learning)")
    ax.set_ylabel("score after the round's last sweep")
    ax.set_title(f"ACC {rows[0]['acc']:.3f} in round {rounds[0]}"
                 + (f", {rows[-1]['acc']:.3f} in round {rounds[-1]}" if len(rows) > 1 else ""))
    fig.tight_layout()
    return fig


def embed_2d(z, method, seed):
    """2-D projection of z (N, D) by 'pca' or 'tsne' (sklearn)."""
    if z.shape[1] <= 2:
        return np.pad(z, ((0, 0), (0, 2 - z.shape[1])))
    if method == "pca":
        from sklearn.decomposition import PCA
        return PCA(2, random_state=seed).fit_transform(z)
    from sklearn.manifold import TSNE
    return TSNE(2, init="pca", random_state=seed, perplexity=min(30, len(z) - 1)).fit_transform(z)


def plot_latent(z2, labels, title):
    """Scatter of 2-D latents z2 (N, 2) coloured by label (or one colour without labels)."""
    fig, ax = plt.subplots(figsize=(6, 6))
    if labels is None:
        ax.scatter(z2[:, 0], z2[:, 1], s=2, alpha=0.5)
    else:
        for c in np.unique(labels):
            sel = labels == c
            ax.scatter(z2[sel, 0], z2[sel, 1], s=2, alpha=0.6, color=plt.cm.tab10(int(c) % 10),
                       label=str(c))
        ax.legend(markerscale=5, loc="best", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_gmm(z, classes, mu, cov, samples, k):
    """Clusters in the plane of the latents' first two principal axes.

    z (N, D) latents coloured by assigned cluster, mu (K, D) means marked x, cov (K, D, D)
    2-sigma ellipses, samples (S, D) the latents drawn from cluster k and decoded.
    """
    from matplotlib.patches import Ellipse
    centre = z.mean(axis=0)
    _, _, vt = np.linalg.svd(z - centre, full_matrices=False)
    P = vt[:2].T
    proj = lambda a: (a - centre) @ P  # noqa: E731
    fig, ax = plt.subplots(figsize=(6, 6))
    z2 = proj(z)
    ax.scatter(z2[:, 0], z2[:, 1], s=1, alpha=0.25, c=plt.cm.tab10(classes % 10))
    for j, (m, c) in enumerate(zip(proj(mu), P.T @ cov @ P)):
        vals, vecs = np.linalg.eigh(c)
        angle = np.degrees(np.arctan2(vecs[1, 1], vecs[0, 1]))
        w, h = 4 * np.sqrt(np.maximum(vals[::-1], 0))
        ax.add_patch(Ellipse(m, w, h, angle=angle, fill=False, lw=2 if j == k else 0.8,
                             color="black" if j == k else plt.cm.tab10(j % 10)))
        ax.scatter(*m, marker="x", s=80, color="black", zorder=3)
        ax.annotate(str(j), m, xytext=(4, 4), textcoords="offset points")
    s2 = proj(samples)
    ax.scatter(s2[:, 0], s2[:, 1], s=25, marker="o", facecolor="none", edgecolor="red",
               label=f"decoded samples of cluster {k}")
    ax.set_title("GMM clusters (PCA plane of the latents), means x, 2-sigma ellipses")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def cluster_latents(mu, Lambda, n, rng):
    """n latents from every cluster k, N(mu_k, Lambda_k^-1), cluster by cluster: (K n, D)."""
    cov = np.linalg.inv(Lambda)
    return np.concatenate([rng.multivariate_normal(m, c, size=n, method="cholesky")
                           for m, c in zip(mu, cov)])


def mixture_latents(pi, mu, Lambda, n, rng):
    """n latents from the GMM mixture sum_k pi_k N(mu_k, Lambda_k^-1), the learned prior: (n, D)."""
    ks = rng.choice(len(pi), size=n, p=pi / pi.sum())
    cov = np.linalg.inv(Lambda)
    return np.stack([rng.multivariate_normal(mu[k], cov[k], method="cholesky") for k in ks])


def line_latents(z_from, z_to, n):
    """n latents evenly spaced on the straight line from z_from to z_to: (n, D)."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) * z_from[None, :] + t * z_to[None, :]


def image_side(P):
    """Side of a square image of P pixels, or None when P is not a square number."""
    side = int(round(math.sqrt(P)))
    return side if side * side == P else None


def image_grid(images, nrow=None):
    """(S, P) images with P a square number -> (H, W) grid array for saving as PNG."""
    from torchvision.utils import make_grid
    side = int(round(math.sqrt(images.shape[1])))
    t = torch.as_tensor(images).reshape(-1, 1, side, side)
    grid = make_grid(t, nrow=nrow or int(math.ceil(math.sqrt(len(t)))), pad_value=1.0)
    return grid[0].numpy()
