"""Resume: a resumed run equals an uninterrupted one, on any device (nothing device-specific
in a checkpoint), and a run folder that does not fit says why in one line."""
import json

import pytest

import main
from settings import checks as settings
from helpers import TINY, read_metrics, run_main, without_seconds


def test_resume_can_add_rounds(tiny_run, tiny_mnist):
    """One round, then --resume=True --mutual_iteration=2, equals the 2-round run 'a'."""
    cwd, _ = tiny_run
    first = run_main(cwd, f"--data_root={tiny_mnist}", "--dir_name=grow", *TINY, "--mutual_iteration=1")
    assert first.returncode == 0, first.stderr[-3000:]
    more = run_main(cwd, f"--data_root={tiny_mnist}", "--dir_name=grow", *TINY, "--resume=True")
    assert more.returncode == 0, more.stderr[-3000:]
    grown, whole = (read_metrics(cwd / f"model/{d}/metrics.csv") for d in ("grow", "a"))
    assert without_seconds(grown) == without_seconds(whole)


def test_resume_with_other_settings_stops(tiny_run, tiny_mnist):
    cwd, _ = tiny_run
    proc = run_main(cwd, f"--data_root={tiny_mnist}", "--dir_name=a", *TINY, "--resume=True", "--K=5")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "K=5" in proc.stderr and "differs" in proc.stderr


def test_run_saved_with_a_setting_since_removed_stops_with_its_name(tiny_run, tiny_mnist):
    """A config.json of an older version (here without gmm_init) cannot resume: the message
    names the setting, no traceback."""
    import shutil
    cwd, _ = tiny_run
    shutil.copytree(cwd / "model" / "a", cwd / "model" / "old")
    cfg = json.loads((cwd / "model/old/config.json").read_text())
    del cfg["gmm_init"]
    (cwd / "model/old/config.json").write_text(json.dumps(cfg))
    proc = run_main(cwd, f"--data_root={tiny_mnist}", "--dir_name=old", *TINY, "--resume=True")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "gmm_init='kmeans'" in proc.stderr and "differs" in proc.stderr


def test_corrupt_checkpoint_names_the_file(tiny_run, tiny_mnist):
    import shutil
    cwd, _ = tiny_run
    shutil.copytree(cwd / "model" / "a", cwd / "model" / "broken")
    (cwd / "model/broken/metrics.csv").write_text(
        "\n".join((cwd / "model/a/metrics.csv").read_text().splitlines()[:2]) + "\n")
    pth = cwd / "model/broken/pth/vae_0.pth"
    pth.write_bytes(pth.read_bytes()[:100])
    proc = run_main(cwd, f"--data_root={tiny_mnist}", "--dir_name=broken", *TINY, "--resume=True")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "vae_0.pth" in proc.stderr
    npy = cwd / "model/broken/npy/mu_1.npy"
    npy.write_bytes(npy.read_bytes()[:60])
    with pytest.raises(main.RunError, match="mu_1.npy is truncated or corrupt"):
        main.decode_from_gmm_param(1, 0, 4, str(cwd / "model/broken"))


def test_config_records_what_the_run_used(tiny_run):
    """config.json holds the device and the number of images used, and the module constants
    that shape a result, beside the settings."""
    import gmm_module
    import vae_module
    cwd, _ = tiny_run
    cfg = json.loads((cwd / "model/a/config.json").read_text())
    assert cfg["device"] == "cpu" and cfg["device_used"] == "cpu" and cfg["images"] == 300
    assert cfg["learning_rate"] == vae_module.LEARNING_RATE and cfg["prior_var_floor"] == vae_module.PRIOR_VAR_FLOOR
    assert cfg["gmm_prior"] == gmm_module.PRIOR and cfg["mlda_weight"] == 200.0
    assert cfg["round0_images"] == settings.ROUND0_IMAGES and cfg["round0_epochs"] == list(settings.ROUND0_EPOCHS)


def test_resume_checks_the_recorded_constants_and_reads_old_runs_as_today(tiny_run, tiny_mnist, monkeypatch):
    """A run saved before the constants were recorded resumes (a missing key means today's
    value); a constant changed since stops the resume with one line naming it."""
    import shutil
    import vae_module
    from run_folder import state
    cwd, _ = tiny_run
    shutil.copytree(cwd / "model" / "a", cwd / "model" / "older")
    cfg = json.loads((cwd / "model/older/config.json").read_text())
    for key in state.RECORDED + ("device_used",):
        del cfg[key]
    (cwd / "model/older/config.json").write_text(json.dumps(cfg))
    args = [f"--data_root={tiny_mnist}", "--dir_name=older", *TINY, "--resume=True"]
    proc = run_main(cwd, *args, "--mutual_iteration=3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    monkeypatch.setattr(vae_module, "LEARNING_RATE", 5e-4)
    proc = run_main(cwd, f"--data_root={tiny_mnist}", "--dir_name=a", *TINY, "--resume=True")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "learning_rate=0.0005 differs from the run in model/a (0.001)" in proc.stderr.strip().splitlines()[-1]


def test_checkpoints_hold_no_device_specific_state(tiny_run):
    """A checkpoint holds the networks, the optimiser, the shuffling generator (a CPU
    generator on every device) and the numpy Generator as JSON: nothing whose form depends on
    the device. The VAE's noise generator is rebuilt by replaying its draws instead."""
    import torch
    cwd, _ = tiny_run
    ckpt = torch.load(cwd / "model/a/pth/vae_1.pth", weights_only=True)
    assert set(ckpt) == {"model", "optimizer", "shuffle_rng", "numpy_rng"}
    assert ckpt["shuffle_rng"].shape == torch.Generator().get_state().shape
    json.loads(ckpt["numpy_rng"])


def test_replayed_noise_is_the_noise_training_left(tiny_mnist):
    """state.noise_generator(cfg, device, loader, rounds) equals the generator that trained those
    rounds' epochs (the state resume rebuilds), on the last batch's odd size too."""
    import torch
    import tool
    import vae_module
    from run_folder import state
    cfg = settings.resolve_epochs(main.parse_settings(TINY + ["--batch_size=70"]), 300)
    images, _ = tool.load_dataset("mnist", tiny_mnist, 300, log=print)
    train_loader, _ = main.make_loaders(images, cfg, torch.device("cpu"))
    torch.manual_seed(0)
    model = vae_module.build_vae("dense", 784, (16,), cfg["latent_dim"])
    noise = torch.Generator().manual_seed(cfg["seed"])
    prior_mu, prior_var = torch.zeros(300, cfg["latent_dim"]), torch.ones(300, cfg["latent_dim"])
    for it in range(2):
        vae_module.train(model, train_loader, prior_mu, prior_var, settings.round_epochs(cfg, it),
                         vae_module.new_optimizer(model), generator=noise)
    replayed = state.noise_generator(cfg, torch.device("cpu"), train_loader, 2)
    assert torch.equal(replayed.get_state(), noise.get_state())
    assert not torch.equal(state.noise_generator(cfg, torch.device("cpu"), train_loader, 1).get_state(),
                           noise.get_state())


def test_an_old_checkpoint_with_a_noise_state_still_resumes(tiny_run, tiny_mnist):
    """Checkpoints written before the replay held the noise generator's state: resume ignores
    it, and the run continues as the uninterrupted one."""
    import shutil
    import torch
    cwd, _ = tiny_run
    shutil.copytree(cwd / "model" / "a", cwd / "model" / "oldckpt")
    (cwd / "model/oldckpt/metrics.csv").write_text(
        "\n".join((cwd / "model/a/metrics.csv").read_text().splitlines()[:2]) + "\n")
    path = cwd / "model/oldckpt/pth/vae_0.pth"
    ckpt = torch.load(path, weights_only=True)
    torch.save({**ckpt, "noise_rng": torch.Generator().get_state()}, path)
    proc = run_main(cwd, f"--data_root={tiny_mnist}", "--dir_name=oldckpt", *TINY, "--resume=True")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert without_seconds(read_metrics(cwd / "model/oldckpt/metrics.csv")) == \
        without_seconds(read_metrics(cwd / "model/a/metrics.csv"))


def cpu_kind():
    """The CPU's vector capability as torch sees it and its vendor ("AVX512_GenuineIntel"):
    both change float rounding (torch's kernels, and the BLAS kernels numpy and t-SNE pick)."""
    import os
    import sys
    import torch
    from helpers import ROOT
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    from calibrate import cpu_info
    return f"{torch.backends.cpu.get_cpu_capability()}_{cpu_info('vendor_id')}"


def test_a_tiny_run_repeats_the_committed_metrics(tiny_mnist, tmp_path):
    """A tiny run with the default t-SNE start gives the metrics.csv that the code before the
    map's start moved out of the GMM gave (commit b1fbe7c; tests/reference/, one file per CPU
    kind, since float rounding differs between AVX2 and AVX-512 and between Intel and AMD
    CPUs of the same capability)."""
    import os
    from helpers import ROOT
    path = os.path.join(ROOT, "tests", "reference", f"tiny_tsne_metrics_{cpu_kind()}.csv")
    if not os.path.exists(path):
        pytest.skip(f"no reference metrics for this CPU kind ({os.path.basename(path)})")
    args = [a for a in TINY if a != "--gmm_init=kmeans"] + ["--gmm_init=tsne", "--mutual_iteration=3"]
    proc = run_main(tmp_path, f"--data_root={tiny_mnist}", "--dir_name=ref", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert without_seconds(read_metrics(tmp_path / "model/ref/metrics.csv")) == read_metrics(path)


def test_cuda_switches_are_set_for_a_cuda_device_only(monkeypatch):
    """settings.checks.make_repeatable: on a CUDA device deterministic cuDNN without
    autotuning, deterministic algorithms, cuBLAS's fixed workspace and no TF32 (what
    config.json's cuda_deterministic then records); nothing on the CPU. Checked here on the
    flags themselves, which torch keeps without a GPU; the state is restored after."""
    import os
    import torch
    from run_folder import state
    saved = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
             torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    try:
        assert settings.make_repeatable(torch.device("cpu")) is None and "CUBLAS_WORKSPACE_CONFIG" not in os.environ
        assert state.cuda_deterministic(torch.device("cpu")) is None
        assert settings.make_repeatable(torch.device("cuda")) is True
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
        assert state.cuda_deterministic(torch.device("cuda")) is True
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[:2]
        torch.use_deterministic_algorithms(saved[2], warn_only=saved[3])
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[4:]


def test_every_file_fault_keeps_its_cause():
    """files.load_file names the file and the real cause: missing, unreadable, refused by
    torch.load(weights_only=True) (with the refused global), or truncated (with the reader's
    own words); main.py names any other OSError with its file and reason."""
    import pickle
    from run_folder import files

    def raising(err):
        def load(path):
            raise err
        return load
    cases = [(FileNotFoundError(2, "No such file"), "f.pth is missing"),
             (PermissionError(13, "Permission denied"), "cannot read f.pth: Permission denied"),
             (pickle.UnpicklingError("Weights only load failed.\n\x1b[1mdo it\x1b[0m\nWeightsUnpickler error: "
                                     "Unsupported global: GLOBAL numpy.float64"),
              "f.pth holds objects that torch.load(weights_only=True) refuses (WeightsUnpickler error: "
              "Unsupported global: GLOBAL numpy.float64)"),
             (OSError(22, "Invalid argument"), "f.pth is truncated or corrupt (OSError: [Errno 22] Invalid argument)"),
             (ValueError("Failed to read all data"), "f.pth is truncated or corrupt (ValueError: Failed to read all data)")]
    for err, message in cases:
        with pytest.raises(main.RunError) as caught:
            files.load_file("f.pth", raising(err))
        assert message in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(MemoryError):  # not a fault of the file: it is not called one
        files.load_file("f.pth", raising(MemoryError()))


def test_an_oserror_outside_the_run_folder_is_named_as_it_is(monkeypatch, tiny_mnist, tmp_path):
    def unreadable(cfg):
        raise PermissionError(13, "Permission denied", "/data/MNIST/raw/train-images-idx3-ubyte")
    monkeypatch.setattr(main, "load_data", unreadable)
    proc = run_main(tmp_path, f"--data_root={tiny_mnist}", *TINY)
    assert proc.stderr.strip().splitlines()[-1] == \
        "main.py: /data/MNIST/raw/train-images-idx3-ubyte: Permission denied (PermissionError)"
