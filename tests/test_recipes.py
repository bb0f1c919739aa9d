"""Override files (config/*.py), and the settings a recipe changes in a whole tiny run:
sent samples, a new VAE each round, the original code's recipe, generation by round and
between two chosen images, Serket's MLDA model. In this process (helpers.run_main)."""
import json

import numpy as np
import pytest
import torch

import main
import tool
from helpers import ROOT, TINY, read_metrics, run_main


def test_override_files_set_settings_and_command_line_values_win(tmp_path):
    cfg = main.parse_settings([f"{ROOT}/config/original_code.py", "--vae_epochs=3"])
    assert cfg["original_defects"] and cfg["gmm_init"] == "prior" and cfg["hidden_dims"] == (256,)
    assert cfg["architecture"] == "dense" and cfg["vae_epochs"] == 3 and not cfg["warm_start_vae"]
    for name in ("original_code.py", "tsne_70k.py", "umap_10k.py"):
        main.parse_settings([f"{ROOT}/config/{name}"])
    bad = {"unknown.py": "colour = 'red'\n", "code.py": "import os\n", "value.py": "K = len('ab')\n",
           "typed.py": "K = 'ten'\n"}
    for name, text in bad.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(main.SettingError, match=f"{name}"):
            main.parse_settings([str(tmp_path / name)])
    with pytest.raises(main.SettingError, match="no_such.py"):
        main.parse_settings(["config/no_such.py"])


def test_sampled_latents_and_a_new_vae_each_round(tiny_run_args, tmp_path, monkeypatch):
    """send='sample' sends z_d drawn around the encoder's mean; warm_start_vae=False builds
    a new VAE (new weights from the round's seed) every round."""
    built = []
    new_vae = main.files.new_vae
    monkeypatch.setattr(main.files, "new_vae", lambda cfg, device: built.append(1) or new_vae(cfg, device))
    sends = []
    send_all_z = main.vae_module.send_all_z
    monkeypatch.setattr(main.vae_module, "send_all_z",
                        lambda model, loader, sample, gen: sends.append(sample) or send_all_z(model, loader, sample, gen))
    proc = run_main(tmp_path, *tiny_run_args, "--send=sample", "--warm_start_vae=False", "--dir_name=s")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(built) == 2 and sends == [True, True]
    warm = run_main(tmp_path, *tiny_run_args, "--dir_name=w")
    assert warm.returncode == 0 and len(built) == 3  # one VAE for both rounds
    z_sampled, z_mean = (np.load(tmp_path / f"model/{d}/npy/z_0.npy") for d in ("s", "w"))
    assert z_sampled.shape == z_mean.shape and not np.allclose(z_sampled, z_mean)


def test_original_code_recipe_runs_end_to_end(tiny_run_args, tmp_path):
    """config/original_code.py on the tiny data: its prior start and last-sample report."""
    tiny = [a for a in tiny_run_args if not a.startswith("--gmm_init")]  # the recipe's prior start
    args = [f"{ROOT}/config/original_code.py", *tiny, "--vae_epochs=1", "--mutual_epochs=1", "--dir_name=o"]
    proc = run_main(tmp_path, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cfg = json.loads((tmp_path / "model/o/config.json").read_text())
    assert cfg["original_defects"] and cfg["gmm_init"] == "prior" and cfg["architecture"] == "dense"
    classes, eta = (np.load(tmp_path / f"model/o/npy/{n}_1.npy") for n in ("class", "eta"))
    assert not np.array_equal(classes, eta.argmax(axis=1))  # the last sample, not the argmax
    assert len(read_metrics(tmp_path / "model/o/metrics.csv")) == 2


def test_generate_round_and_transit_indices(tiny_run_args, tmp_path):
    assert run_main(tmp_path, *tiny_run_args, "--dir_name=g").returncode == 0
    proc = run_main(tmp_path, "--dir_name=g", "--generate=clusters", "--generate_round=0", "--sample_num=2")
    assert proc.returncode == 0 and "wrote model/g/recon/clusters_0.png" in proc.stdout
    proc = run_main(tmp_path, "--dir_name=g", "--generate=transit", "--transit=3,7", "--sample_num=5")
    assert proc.returncode == 0 and "wrote model/g/recon/transit_1.png" in proc.stdout
    # the line's ends are the two images' latents: decoding them gives the grid's first and last image
    import matplotlib.image
    grid = matplotlib.image.imread(tmp_path / "model/g/recon/transit_1.png")[..., 0]
    z = np.load(tmp_path / "model/g/npy/z_1.npy")
    cfg = json.loads((tmp_path / "model/g/config.json").read_text())
    model = main.files.load_vae(str(tmp_path / "model/g"), 1, cfg, torch.device("cpu"))
    ends = main.vae_module.decode(model, z[[3, 7]], torch.device("cpu")).reshape(2, 28, 28)
    cells = [grid[2:30, 2:30], grid[2:30, 4 * 30 + 2:4 * 30 + 30]]
    for cell, end in zip(cells, ends):
        assert np.abs(cell - end).max() < 0.01


def test_mlda_model_runs_end_to_end(tmp_path, tiny_mnist):
    """--model=vae_gmm_mlda (no Markov model): the MLDA's scores and messages, every round."""
    from test_multimodal import serket_folder
    folder, _ = serket_folder(tmp_path, tiny_mnist)
    proc = run_main(tmp_path, f"--serket_dir={folder}", "--model=vae_gmm_mlda", "--mutual_iteration=2",
                    "--vae_epochs=1", "--mutual_epochs=1", "--gmm_iter=3", "--batch_size=50", "--hidden_dims=32",
                    "--latent_dim=4", "--tsne_points=0", "--sample_num=2", "--device=cpu", "--gmm_init=kmeans",
                    "--dir_name=ml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    d = tmp_path / "model/ml"
    rows = read_metrics(d / "metrics.csv")
    assert list(rows[0])[5:8] == ["mlda_acc", "mlda_nmi", "mlda_ari"] and "mm_acc" not in rows[0]
    assert not (d / "module004_mm").exists()
    for it in (0, 1):
        msg = np.load(d / f"module003_mlda/gmm_message_{it}.npy")
        assert msg.shape == (200, 10) and np.allclose(msg.sum(1), 1)
        assert float(rows[it]["mlda_acc"]) == tool.cluster_acc(
            np.loadtxt(folder / "category.txt"), np.load(d / f"module003_mlda/class_{it}.npy"))


@pytest.fixture
def tiny_run_args(tiny_mnist):
    return [f"--data_root={tiny_mnist}", *TINY]
