"""The multimodal models' data: MNIST images paired with scikit-learn's digits, or
Serket's own files. Each returns images (N, P), the second modality's counts (N, W) and
labels (N,) (or None); an unusable file raises tool.DataError.
"""
import os

import numpy as np

import tool


def load_digit_pairs(data_root, n_per_class=300, log=print):
    """Bundled multimodal data: 10 * n_per_class pairs ordered 0, 1, ..., 9, 0, 1, ...

    Step t pairs the (t // 10)-th MNIST image of digit t % 10 (the first training images
    of each digit) with a handwritten sample of the same digit from the UCI optical digits
    set bundled with scikit-learn (64 block counts, 0-16; it has about 180 per digit, so
    samples are reused in turn). Returns images (N, 784) float32, counts (N, 64) int,
    labels (N,).
    """
    from sklearn.datasets import load_digits
    images, labels = tool.load_mnist(data_root, 10000, log=log)
    digits = load_digits()
    order_img, order_dig = [], []
    for j in range(n_per_class):
        for c in range(10):
            img_idx, dig_idx = np.flatnonzero(labels == c), np.flatnonzero(digits.target == c)
            if j >= len(img_idx):
                raise tool.DataError(f"only {len(img_idx)} MNIST images of digit {c} are available; "
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
    images, labels = tool.load_user_data(path("data1.txt"), labels_file)
    counts = tool.read_array(path("data2.txt"))
    if counts.ndim != 2 or len(counts) != len(images):
        raise tool.DataError(f"{path('data2.txt')}: expected {len(images)} rows, one per row of data1.txt, "
                        f"got an array of shape {counts.shape}")
    if not np.all(np.isfinite(counts)) or counts.min() < 0:
        raise tool.DataError(f"{path('data2.txt')}: counts must be finite and >= 0")
    return images, np.rint(counts).astype(np.int64), labels


