"""Data: the user's own files (formats, scaling, one-line errors) and torchvision's datasets."""
import numpy as np
import pytest
import torch

import tool


from helpers import run_main


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


TINY = ["--mutual_iteration=2", "--vae_epochs=2", "--mutual_epochs=2", "--gmm_iter=5", "--batch_size=20",
        "--hidden_dims=16",
        "--latent_dim=2", "--tsne_points=0", "--sample_num=4", "--K=3", "--device=cpu", "--gmm_init=kmeans"]


def test_main_on_user_data_without_labels_and_non_square(tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.random((3, 10))
    x = np.clip(np.repeat(centres, 30, axis=0) + 0.05 * rng.standard_normal((90, 10)), 0, 1)
    path = write(tmp_path / "data.txt", x)
    proc = run_main(tmp_path, f"--data_path={path}", "--dir_name=u", "--architecture=dense", *TINY)
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
    path, labels = write(tmp_path / "x.npy", x), write(tmp_path / "y.npy", np.arange(60) % 3)
    proc = run_main(tmp_path, f"--data_path={path}", f"--label_path={labels}", "--dir_name=v", *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ACC" in proc.stdout and (tmp_path / "model/v/recon/manual_0.png").is_file()


@pytest.mark.parametrize("array,message", [(np.zeros((2, 4)), "K=3 is more than"),
                                           (np.full((10, 4), 3.0), "[0, 1]")])
def test_main_bad_data_is_one_line(tmp_path, array, message):
    path = write(tmp_path / "d.npy", array)
    proc = run_main(tmp_path, f"--data_path={path}", *TINY)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr


# ---------------------------------------------------------------- torchvision's datasets

def write_dataset(root, name, images, labels):
    """Tiny files of dataset `name` in torchvision's layout under root: images (N, side,
    side) uint8 and labels (N,) split into a training set (all but 10) and a test set (10)."""
    import bz2
    from conftest import write_idx
    files = tool.DATASETS[name][2]
    for part, sl in ((0, slice(0, -10)), (1, slice(-10, None))):
        x, y = images[sl], labels[sl]
        if name == "usps":  # libsvm text: label 1-10, then index:value with values in [-1, 1]
            lines = [f"{c + 1} " + " ".join(f"{j + 1}:{v / 127.5 - 1:.6f}" for j, v in enumerate(row.ravel()))
                     for row, c in zip(x, y)]
            (root / files[part]).write_bytes(bz2.compress(("\n".join(lines) + "\n").encode()))
            continue
        image_file, label_file = (root / f for f in files[2 * part:2 * part + 2])
        image_file.parent.mkdir(parents=True, exist_ok=True)
        write_idx(image_file, x.transpose(0, 2, 1) if name == "emnist" else x)
        if name == "qmnist":  # int32 labels, 8 columns, the digit first
            table = np.zeros((len(y), 8), dtype=">i4")
            table[:, 0] = y
            header = bytes([0, 0, 0x0C, 2]) + b"".join(int(d).to_bytes(4, "big") for d in table.shape)
            label_file.write_bytes(header + table.tobytes())
        else:
            write_idx(label_file, y)


def tiny_images(side, n=60, seed=0):
    """n images (n, side, side) uint8 of 3 kinds of stripes, and their labels 0-2."""
    labels = np.arange(n) % 3
    images = np.zeros((n, side, side), dtype=np.uint8)
    for i, c in enumerate(labels):
        images[i, :, c * side // 3:(c + 1) * side // 3] = 255
    return images, labels


@pytest.mark.parametrize("name", [d for d in tool.DATASETS if d != "mnist"])
def test_every_dataset_loads_from_torchvision_layout(tmp_path, name):
    side = 16 if name == "usps" else 28
    images, labels = tiny_images(side)
    write_dataset(tmp_path, name, images, labels)
    got, got_labels = tool.load_dataset(name, str(tmp_path), 55, log=pytest.fail)
    assert got.shape == (55, side * side) and got.dtype == torch.float32
    np.testing.assert_array_equal(got_labels, labels[:55])
    # training images first, then test images, each the right way round
    np.testing.assert_allclose(got.numpy().reshape(-1, side, side), images[:55] / 255.0, atol=1e-2)


def test_missing_dataset_names_the_files(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(self, *args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")
    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "download", offline)
    with pytest.raises(tool.DataError, match="FashionMNIST/raw/train-images-idx3-ubyte"):
        tool.load_dataset("fashionmnist", str(tmp_path), 100)


def test_main_runs_generates_and_resumes_on_another_dataset(tmp_path):
    """--dataset=usps (16 x 16 images) with the default conv VAE: every output, --generate, --resume."""
    images, labels = tiny_images(16, n=90)
    write_dataset(tmp_path, "usps", images, labels)
    args = [f"--data_root={tmp_path}", "--dataset=usps", "--n_data=90", "--dir_name=u", *TINY, "--tsne_points=50"]
    proc = run_main(tmp_path, *args, "--mutual_iteration=1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "90 USPS images" in proc.stdout
    more = run_main(tmp_path, *args, "--mutual_iteration=2", "--resume=True")
    assert more.returncode == 0, more.stderr[-3000:]
    d = tmp_path / "model" / "u"
    for name in ("graph/scores.png", "graph/z_tsne_1.png", "graph/gause_I1k0.png", "recon/manual_2.png"):
        assert (d / name).is_file(), name
    gen = run_main(tmp_path, "--dir_name=u", "--generate=clusters", "--sample_num=3")
    assert gen.returncode == 0, gen.stderr[-3000:]
    import matplotlib.image
    assert matplotlib.image.imread(d / "recon/clusters_1.png").shape[:2] == (3 * 18 + 2, 3 * 18 + 2)
