"""The user's own data: formats, scaling, and one-line errors for bad files."""
import os
import subprocess
import sys

import numpy as np
import pytest

import tool
from conftest import ROOT


def write(path, array):
    path = str(path)
    if path.endswith(".npy"):
        np.save(path, array)
    elif path.endswith(".npz"):
        np.savez(path, x=array)
    else:
        np.savetxt(path, array)
    return path


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".txt"])
def test_formats_load_the_same_values(tmp_path, suffix):
    x = np.random.default_rng(0).random((20, 6))
    got, labels = tool.load_user_data(write(tmp_path / f"d{suffix}", x))
    np.testing.assert_allclose(got.numpy(), x, rtol=1e-6)
    assert labels is None


def test_uint8_is_scaled_and_labels_are_read(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (15, 9)).astype(np.uint8)
    y = np.arange(15) % 3
    got, labels = tool.load_user_data(write(tmp_path / "d.npy", x), write(tmp_path / "y.txt", y))
    np.testing.assert_allclose(got.numpy(), x / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(labels, y)


BAD = {
    "NaN or inf": (np.array([[0.1, np.nan], [0.2, 0.3]]), "NaN or inf"),
    "outside [0, 1]": (np.array([[0.1, 2.0], [0.2, 0.3]]), "[0, 1]"),
    "one-dimensional": (np.array([0.1, 0.2]), "N rows of P values"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_values_are_named(tmp_path, case):
    array, message = BAD[case]
    with pytest.raises(tool.DataError, match=message):
        tool.load_user_data(write(tmp_path / "d.npy", array))


def test_ragged_and_empty_text_files(tmp_path):
    (tmp_path / "ragged.txt").write_text("0.1 0.2 0.3\n0.4 0.5\n")
    with pytest.raises(tool.DataError, match="cannot be read"):
        tool.load_user_data(str(tmp_path / "ragged.txt"))
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(tool.DataError, match="shape"):
        tool.load_user_data(str(tmp_path / "empty.txt"))
    with pytest.raises(tool.DataError, match="no such file"):
        tool.load_user_data(str(tmp_path / "missing.npy"))


def test_labels_of_another_length(tmp_path):
    with pytest.raises(tool.DataError, match="expected 10 labels"):
        tool.load_user_data(write(tmp_path / "d.npy", np.zeros((10, 4))), write(tmp_path / "y.npy", np.zeros(9)))


def run_main(cwd, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


TINY = ["--mutual_iteration=2", "--vae_epochs=2", "--gmm_iter=5", "--batch_size=20", "--hidden_dims=16",
        "--latent_dim=2", "--tsne_points=0", "--sample_num=4", "--K=3", "--device=cpu"]


def test_main_on_user_data_without_labels_and_non_square(tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.random((3, 10))
    x = np.clip(np.repeat(centres, 30, axis=0) + 0.05 * rng.standard_normal((90, 10)), 0, 1)
    data = write(tmp_path / "data.txt", x)
    proc = run_main(tmp_path, f"--data_path={data}", "--dir_name=u", "--architecture=dense", *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "no labels" in proc.stdout and "not a square number" in proc.stdout
    header = (tmp_path / "model/u/metrics.csv").read_text().splitlines()
    assert header[0] == "round,elbo,acc,nmi,ari,seconds" and header[1].split(",")[2:5] == ["", "", ""]
    assert not (tmp_path / "model/u/graph/acc_0.png").exists()
    assert not (tmp_path / "model/u/graph/scores.png").exists()
    assert not (tmp_path / "model/u/recon").exists()
    assert (tmp_path / "model/u/graph/gause_I1k0.png").is_file()


def test_default_conv_vae_on_non_square_data_says_to_use_dense(tmp_path):
    x = np.random.default_rng(2).random((30, 10))
    proc = run_main(tmp_path, f"--data_path={write(tmp_path / 'd.npy', x)}", *TINY)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "architecture='conv'" in proc.stderr and "--architecture=dense" in proc.stderr


def test_main_on_user_images_with_labels(tmp_path):
    rng = np.random.default_rng(1)
    x = (rng.random((60, 16)) * 255).astype(np.uint8)
    data, labels = write(tmp_path / "x.npy", x), write(tmp_path / "y.npy", np.arange(60) % 3)
    proc = run_main(tmp_path, f"--data_path={data}", f"--label_path={labels}", "--dir_name=v", *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ACC" in proc.stdout and (tmp_path / "model/v/recon/manual_0.png").is_file()


@pytest.mark.parametrize("array,message", [(np.zeros((2, 4)), "K=3 is more than"),
                                           (np.full((10, 4), 3.0), "[0, 1]")])
def test_main_bad_data_is_one_line(tmp_path, array, message):
    data = write(tmp_path / "d.npy", array)
    proc = run_main(tmp_path, f"--data_path={data}", *TINY)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr
