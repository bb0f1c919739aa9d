"""main.py end to end on a tiny setting, in this process (helpers.run_main): outputs,
reproducibility, decoding, resume, generation, bad settings and files. test_cli.py runs
the command line itself."""
import json
import os
import sys

import numpy as np
import pytest

import main
from settings import checks as settings
from helpers import ROOT, TINY, read_metrics, run_main, without_seconds


def test_smoke_run_writes_every_output(tiny_run):
    cwd, proc = tiny_run
    d = cwd / "model" / "a"
    for it in (0, 1):
        assert (d / "pth" / f"vae_{it}.pth").is_file()
        for name in ("loss", "z", "class", "eta", "mu", "lambda", "pi"):
            assert (d / "npy" / f"{name}_{it}.npy").is_file(), name
        for name in ("vae_loss", "acc", "z_tsne", "z_pca"):
            assert (d / "graph" / f"{name}_{it}.png").is_file(), name
    assert (d / "graph" / "scores.png").is_file()
    for k in range(10):
        assert (d / "recon" / f"manual_{k}.png").is_file()
        assert (d / "graph" / f"gause_I1k{k}.png").is_file()
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["n_data"] == 300 and cfg["hidden_dims"] == [64]
    rows = read_metrics(d / "metrics.csv")
    assert [r["round"] for r in rows] == ["0", "1"]
    assert list(rows[0]) == ["round", "elbo", "acc", "nmi", "ari", "seconds"]
    for r in rows:
        assert float(r["elbo"]) < 0 and 0 < float(r["acc"]) <= 1
    z, eta = np.load(d / "npy" / "z_1.npy"), np.load(d / "npy" / "eta_1.npy")
    assert z.shape == (300, 4) and eta.shape == (300, 10) and np.allclose(eta.sum(1), 1)
    assert "round 1/1: ELBO" in proc.stdout and "ACC" in proc.stdout
    assert not list(d.rglob("*.tmp*"))


def test_umap_start_runs_end_to_end(tiny_mnist, tmp_path):
    """The start of the default above 10,000 points (a UMAP map of all latents) in a whole run:
    one round, every point mapped, the round's t-SNE plot made of the latents (a 10-D map has
    no 2-D points)."""
    args = [a for a in TINY if a != "--gmm_init=kmeans"] + ["--gmm_init=umap", "--mutual_iteration=1", "--dir_name=u"]
    proc = run_main(tmp_path, f"--data_root={tiny_mnist}", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    d = tmp_path / "model" / "u"
    assert json.loads((d / "config.json").read_text())["gmm_init"] == "umap"
    assert (d / "graph" / "z_tsne_0.png").is_file() and float(read_metrics(d / "metrics.csv")[0]["acc"]) > 0.2


def test_same_seed_gives_identical_metrics(tiny_run, tiny_mnist):
    cwd, _ = tiny_run
    proc = run_main(cwd, f"--data_root={tiny_mnist}", "--dir_name=b", *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a = read_metrics(cwd / "model" / "a" / "metrics.csv")
    b = read_metrics(cwd / "model" / "b" / "metrics.csv")
    assert without_seconds(a) == without_seconds(b)
    np.testing.assert_array_equal(np.load(cwd / "model/a/npy/z_1.npy"), np.load(cwd / "model/b/npy/z_1.npy"))


def test_decode_from_gmm_param_reads_the_saved_run(tiny_run, monkeypatch):
    cwd, _ = tiny_run
    out = cwd / "model" / "a" / "recon" / "manual_3.png"
    out.unlink()
    monkeypatch.chdir(cwd)
    imgs = main.decode_from_gmm_param(iteration=0, decode_k=3, sample_num=9, model_dir="model/a")
    assert imgs.shape == (9, 784) and imgs.min() >= 0 and imgs.max() <= 1
    assert out.is_file()


@pytest.mark.parametrize("arg,names", [
    ("--K=0", "K"), ("--vae_epochs=-1", "vae_epochs"), ("--batch_size=20000", "batch_size"),
    ("--latent_dim=0", "latent_dim"), ("--mutual_iteration=0", "mutual_iteration"),
    ("--send=median", "send"), ("--gmm_iter=0", "gmm_iter"),
    ("--gmm_init=uniform", "gmm_init"), ("--gmm_init=random", "gmm_init"), ("--transit=3", "transit"),
    ("--transit=(1,-2)", "transit"), ("--lr=0", "lr"),
    ("--hidden_dims=(0,)", "hidden_dims"), ("--hidden_dims=abc", "hidden_dims"), ("--K=2.5", "K"),
    ("--warm_start_vae=maybe", "warm_start_vae"), ("--device=tpu", "device"), ("--n_data=0", "n_data"),
    ("--tsne_points=-5", "tsne_points"),
    ("--no_such_setting=1", "no_such_setting"), ("mutual_iteration=5", "mutual_iteration"),
])
def test_bad_settings_name_the_setting(arg, names):
    with pytest.raises(main.SettingError, match=names):
        main.parse_settings([arg])


@pytest.mark.parametrize("name", ["cuda:abc", "cuda:99"])
def test_missing_or_malformed_cuda_device_names_the_setting(name):
    """Without CUDA: 'not available'; with it: a bad index or name. Never torch's own error."""
    with pytest.raises(main.SettingError, match="device="):
        main.pick_device(name)


def test_overrides_are_typed():
    cfg = main.parse_settings(["--mutual_iteration=5", "--hidden_dims=(500,500)", "--send=sample",
                               "--warm_start_vae=False", "--hidden_dims=128", "--transit=3,7"])
    assert main.parse_settings(["--architecture=dense", "--hidden_dims=500,500,2000"])["hidden_dims"] == (500, 500, 2000)
    assert cfg["mutual_iteration"] == 5 and cfg["hidden_dims"] == (128,) and cfg["transit"] == (3, 7)
    assert cfg["send"] == "sample" and cfg["warm_start_vae"] is False


def test_conv_vae_takes_one_hidden_size():
    """The conv VAE has one dense layer: several sizes are refused with one line that says so."""
    import vae_module
    with pytest.raises(main.SettingError, match="one size with architecture='conv'"):
        main.parse_settings(["--hidden_dims=500,500"])
    with pytest.raises(ValueError, match="one dense layer"):
        vae_module.ConvVAE(784, (500, 500), 12)


@pytest.mark.parametrize("args", [["--K=0"], ["--colour=red"]])
def test_bad_setting_stops_with_one_line(tmp_path, args):
    proc = run_main(tmp_path, *args)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("main.py: ")
    assert not (tmp_path / "model").exists()


def test_readme_commands_use_settings_that_exist():
    """Every `--name=value` and every settings-table row of README.md names a setting of
    main.py, and every `python main.py ...` command in it parses (the README need not list
    every setting: the block at the top of main.py is the reference)."""
    import re
    import shlex
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    named = set(re.findall(r"--(\w+)=", readme)) - {"name"}  # --name=value: the form, not a setting
    named |= set(re.findall(r"^\| `(\w+)` \| `", readme, flags=re.M))
    assert named and named <= set(main.SETTINGS), named - set(main.SETTINGS)
    commands = ([line.split("#")[0] for line in readme.splitlines() if line.startswith("python main.py")]
                + re.findall(r"`(python main\.py[^`]*)`", readme))
    assert len(commands) >= 8
    for command in commands:
        main.parse_settings(shlex.split(command)[2:])


def test_readme_figures_come_from_a_run_of_the_current_defaults():
    """image/config.json (the run behind the README's figures) holds main.py's defaults,
    resolved for its data size; only the folders and the device named may differ."""
    with open(os.path.join(ROOT, "image", "config.json")) as f:
        saved = json.load(f)
    defaults = settings.resolve_epochs(dict(main.SETTINGS), saved["n_data"])
    differ = {k for k in defaults if json.loads(json.dumps(defaults[k])) != saved.get(k)}
    # settings that name folders or the device, and output-only ones added since the run
    added = {k for k in settings.RESUMABLE if k not in saved}
    assert differ <= {"dir_name", "data_root", "device"} | added, differ
    rows = read_metrics(os.path.join(ROOT, "image", "metrics.csv"))
    assert len(rows) == saved["mutual_iteration"]


def test_readme_python_example_runs(tiny_run, tiny_mnist, capsys):
    """The README's "From Python" block runs as written, on the tiny data and settings (its
    parse_settings arguments replaced by TINY ones, 3 rounds as in the block)."""
    import re
    with open(os.path.join(ROOT, "README.md")) as f:
        block = re.search(r"```python\n(.*?)```", f.read(), flags=re.S).group(1)
    args = [f"--data_root={tiny_mnist}", *TINY, "--mutual_iteration=3"]
    code = re.sub(r"parse_settings\(\[[^]]*\]\)", f"parse_settings({args!r})", block)
    assert code != block
    cwd, _ = tiny_run
    here = os.getcwd()
    os.chdir(cwd)
    try:
        exec(code, {})
    finally:
        os.chdir(here)
    assert len(read_metrics(cwd / "model" / "mine" / "metrics.csv")) == 3
    assert (cwd / "model" / "mine" / "recon").is_dir()


def test_second_run_into_the_same_dir_stops(tiny_run, tiny_mnist):
    cwd, _ = tiny_run
    proc = run_main(cwd, f"--data_root={tiny_mnist}", "--dir_name=a", *TINY)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "already holds a run" in proc.stderr and "--resume=True" in proc.stderr


def test_interrupt_says_what_was_saved(tiny_mnist, tmp_path, monkeypatch):
    """Ctrl-C (or SIGTERM, which main.py turns into the same) after round 0 was saved: one
    line naming the rounds kept and the command that continues the run."""
    def interrupt_round_1(dir_name, it, *args):
        if it == 1:
            raise KeyboardInterrupt
        return save_round(dir_name, it, *args)
    save_round = main.save_round
    monkeypatch.setattr(main, "save_round", interrupt_round_1)
    proc = run_main(tmp_path, f"--data_root={tiny_mnist}", *TINY, "--dir_name=int")
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1 and "interrupted; rounds 0-0 are saved in model/int" in last
    assert "--dir_name=int --resume=True" in last


def test_unwritable_model_dir_is_one_line(tiny_mnist, tmp_path):
    (tmp_path / "model").write_text("a file where the folder should be")
    proc = run_main(tmp_path, f"--data_root={tiny_mnist}", *TINY)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("main.py: cannot write") and len(proc.stderr.strip().splitlines()) == 1


def test_full_disk_is_one_line(tiny_mnist, tmp_path, monkeypatch):
    """os.fsync fails with ENOSPC, as on a full disk: one line, and no temporary file left."""
    import errno

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    proc = run_main(tmp_path, f"--data_root={tiny_mnist}", *TINY)
    message = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1 and "No space left on device" in message and "config.json" in message
    assert not list(tmp_path.rglob("*.tmp*"))


@pytest.mark.parametrize("kind,shape", [("clusters", (10 * 30 + 2, 4 * 30 + 2)), ("prior", (4 * 30 + 2, 4 * 30 + 2)),
                                        ("transit", (30 + 2, 4 * 30 + 2))])
def test_generate_from_a_saved_run(tiny_run, kind, shape):
    import matplotlib.image
    cwd, _ = tiny_run
    proc = run_main(cwd, "--dir_name=a", f"--generate={kind}", "--sample_num=4", "--transit=0,7")
    assert proc.returncode == 0, proc.stderr[-3000:]
    png = cwd / "model" / "a" / "recon" / f"{kind}_1.png"
    assert f"wrote model/a/recon/{kind}_1.png" in proc.stdout
    assert matplotlib.image.imread(png).shape[:2] == shape


def test_generate_needs_a_run_and_valid_indices(tiny_run, tmp_path):
    cwd, _ = tiny_run
    proc = run_main(tmp_path, "--dir_name=nothing", "--generate=prior")
    assert proc.returncode != 0 and "config.json is missing" in proc.stderr
    proc = run_main(cwd, "--dir_name=a", "--generate=transit", "--transit=0,300")
    assert proc.returncode != 0 and "transit=(0, 300)" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_main(cwd, "--dir_name=a", "--generate=prior", "--generate_round=5")
    assert proc.returncode != 0 and "rounds 0-1" in proc.stderr


def test_conv_architecture_runs(tiny_mnist, tmp_path):
    proc = run_main(tmp_path, f"--data_root={tiny_mnist}", *TINY, "--architecture=conv", "--dir_name=c",
                    "--mutual_iteration=1", "--tsne_points=0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "model/c/recon/manual_0.png").is_file()
    assert json.loads((tmp_path / "model/c/config.json").read_text())["architecture"] == "conv"


def read_tensorboard(folder):
    """{tag: [(step, value)]} of every scalar logged into folder."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.mark.parametrize("model", ["vae_gmm", "gmvae"])
def test_tensorboard_logs_the_saved_curves(tiny_mnist, tmp_path, model):
    pytest.importorskip("tensorboard")
    proc = run_main(tmp_path, f"--data_root={tiny_mnist}", "--dir_name=tb", *TINY, "--tsne_points=0",
                    f"--model={model}", "--tensorboard=True")
    assert proc.returncode == 0, proc.stderr[-3000:]
    d = tmp_path / "model" / "tb"
    scalars = read_tensorboard(d / "tensorboard")
    rounds = 2 if model == "vae_gmm" else 1
    assert [step for step, _ in scalars["round/acc"]] == list(range(rounds))
    rows = read_metrics(d / "metrics.csv")
    assert np.allclose([v for _, v in scalars["round/acc"]], [float(r["acc"]) for r in rows])
    curve = scalars["vae/elbo_per_epoch" if model == "vae_gmm" else "gmvae/elbo_per_epoch"]
    saved = np.concatenate([np.load(d / "npy" / f"loss_{it}.npy") for it in range(rounds)])
    assert [s for s, _ in curve] == list(range(len(saved))) and np.allclose([v for _, v in curve], saved)
    if model == "vae_gmm":
        assert len(scalars["gmm/log_joint_per_sweep"]) == 2 * 5


def test_tensorboard_without_the_package_names_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(main.SettingError, match="tensorboard=True needs the tensorboard package: pip install"):
        settings.tensorboard_writer({**main.SETTINGS, "tensorboard": True})
    assert settings.tensorboard_writer(dict(main.SETTINGS)) is None


def test_zero_epochs_scale_with_the_data_and_later_rounds_follow_round_0():
    cfg = main.parse_settings([])
    assert cfg["vae_epochs"] == 0 and cfg["mutual_epochs"] == 0
    epochs = lambda c, n: [settings.round_epochs(settings.resolve_epochs(c, n), it) for it in (0, 1)]  # noqa: E731
    assert epochs(cfg, 10000) == [75, 15] and epochs(cfg, 20000) == [38, 8]
    assert epochs(cfg, 70000) == [15, 3] and epochs(cfg, 10**9) == [15, 3]  # large sets: at least 15 passes
    assert epochs(cfg, 600) == [75, 15]  # a small set stays quick
    # a user's vae_epochs sets the later rounds in proportion, unless mutual_epochs is given
    assert epochs(main.parse_settings(["--vae_epochs=3"]), 600) == [3, 1]
    assert epochs(main.parse_settings(["--vae_epochs=7"]), 70000) == [7, 1]
    assert epochs(main.parse_settings(["--vae_epochs=40"]), 70000) == [40, 8]
    assert epochs(main.parse_settings(["--mutual_epochs=3"]), 10000) == [75, 3]
    assert epochs(main.parse_settings(["--vae_epochs=50", "--mutual_epochs=10"]), 70000) == [50, 10]


def test_auto_start_maps_every_point_with_tsne_up_to_10000_and_umap_above():
    start = lambda args, n: settings.resolve_epochs(main.parse_settings(args), n)["gmm_init"]  # noqa: E731
    assert main.SETTINGS["gmm_init"] == "auto"
    assert start([], 300) == start([], 10000) == "tsne" and start([], 10001) == start([], 70000) == "umap"
    assert start(["--gmm_init=kmeans"], 70000) == "kmeans" and start(["--gmm_init=umap"], 300) == "umap"


def test_resolved_epochs_are_trained_saved_and_resumed(tmp_path, monkeypatch):
    import torch
    monkeypatch.setattr(settings, "ROUND0_EPOCHS", (1, 75))
    monkeypatch.setattr(settings, "ROUND0_IMAGES", 600)  # 10 epochs of the 60 points below, then 2
    images = torch.rand(60, 16, generator=torch.Generator().manual_seed(0))
    cfg = main.parse_settings(["--architecture=dense", "--hidden_dims=8", "--latent_dim=2", "--batch_size=20",
                               "--K=2", "--gmm_init=kmeans", "--tsne_points=0", "--data_path=x.npy",
                               "--device=cpu"])
    out = str(tmp_path / "run")
    main.train_model(1, out, *main.make_loaders(images, cfg, torch.device("cpu")), cfg=cfg)
    saved = json.loads((tmp_path / "run/config.json").read_text())
    assert saved["vae_epochs"] == 10 and saved["mutual_epochs"] == 2
    assert len(np.load(tmp_path / "run/npy/loss_0.npy")) == 10
    rows = main.train_model(2, out, *main.make_loaders(images, cfg, torch.device("cpu")), cfg=cfg, resume=True).rows
    assert len(rows) == 2 and len(np.load(tmp_path / "run/npy/loss_1.npy")) == 2
