"""The CUDA path: the conv VAE's numbers against the CPU's, runs that repeat, resume across
devices, no host syncs inside an epoch, and one epoch's time.

Skipped where torch sees no CUDA device (CI has none); bench/gpu_check.sh runs them on a GPU
machine (`python -m pytest tests/test_cuda.py -s` prints the epoch's time), in under 2 minutes.
"""
import json
import math
import time
import warnings

import pytest
import torch

import tool
import vae_module as vm
from settings import checks
from helpers import TINY, read_metrics, run_main, without_seconds

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
CUDA_TINY = [a for a in TINY if not a.startswith("--device")]


@pytest.fixture(autouse=True)
def repeatable_kernels():
    """main.py's switches for CUDA (settings.checks.make_repeatable), as a run sets them."""
    checks.make_repeatable(torch.device("cuda"))


def test_conv_vae_loss_and_gradients_match_the_cpu():
    """The default conv VAE: the loss terms and every parameter's gradient of one batch agree
    between the GPU (TF32 off) and the CPU, with the same weights and the same noise."""
    g = torch.Generator().manual_seed(0)
    o, prior_mu = torch.rand(64, 784, generator=g), torch.randn(64, 12, generator=g)
    prior_var = torch.rand(64, 12, generator=g) + 0.1
    torch.manual_seed(0)
    cpu = vm.build_vae("conv", 784, (256,), 12)
    gpu = vm.build_vae("conv", 784, (256,), 12).cuda()
    gpu.load_state_dict(cpu.state_dict())
    eps = torch.randn(64, 12, generator=g)
    grads = []
    for model, device in ((cpu, "cpu"), (gpu, "cuda")):
        m, logvar = model.encode(o.to(device))
        z = m + (0.5 * logvar).exp() * eps.to(device)
        rec = torch.nn.functional.binary_cross_entropy_with_logits(model.decode_logits(z), o.to(device),
                                                                   reduction="none").sum(1)
        kl = vm.kl_to_prior(m, logvar, prior_mu.to(device), prior_var.to(device))
        (rec + kl).sum().backward()
        grads.append((rec.detach().cpu(), kl.detach().cpu(), [p.grad.cpu() for p in model.parameters()]))
    (rec_c, kl_c, g_c), (rec_g, kl_g, g_g) = grads
    torch.testing.assert_close(rec_g, rec_c, rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(kl_g, kl_c, rtol=1e-5, atol=1e-4)
    for a, b in zip(g_g, g_c):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_two_runs_with_one_seed_give_the_same_metrics(tiny_mnist, tmp_path):
    """With the deterministic switches (recorded in config.json), a tiny run repeats on the GPU."""
    for name in ("x", "y"):
        proc = run_main(tmp_path, f"--data_root={tiny_mnist}", f"--dir_name={name}", "--device=cuda", *CUDA_TINY)
        assert proc.returncode == 0, proc.stderr[-3000:]
    x, y = (read_metrics(tmp_path / f"model/{n}/metrics.csv") for n in ("x", "y"))
    assert without_seconds(x) == without_seconds(y)
    cfg = json.loads((tmp_path / "model/x/config.json").read_text())
    assert cfg["device_used"] == "cuda:0" and cfg["cuda_deterministic"] is True


@pytest.mark.parametrize("first,then", [("cuda", "cpu"), ("cpu", "cuda")])
def test_a_run_resumes_on_the_other_device(tiny_mnist, tmp_path, first, then):
    """Round 0 on one device, round 1 on the other: the checkpoint holds nothing device-specific."""
    args = [f"--data_root={tiny_mnist}", "--dir_name=r", *[a for a in CUDA_TINY if not a.startswith("--mutual")]]
    proc = run_main(tmp_path, *args, f"--device={first}", "--mutual_iteration=1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run_main(tmp_path, *args, f"--device={then}", "--mutual_iteration=2", "--resume=True")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_metrics(tmp_path / "model/r/metrics.csv")
    assert [r["round"] for r in rows] == ["0", "1"]
    assert all(math.isfinite(float(r["elbo"])) and 0 < float(r["acc"]) <= 1 for r in rows)
    gen = run_main(tmp_path, "--dir_name=r", "--generate=clusters", "--sample_num=2", f"--device={then}")
    assert gen.returncode == 0, gen.stderr[-3000:]


def count_host_syncs(batch_size, epochs=3):
    """Synchronising CUDA calls made by vm.train over `epochs` epochs of 500 images on the GPU."""
    device = torch.device("cuda")
    data = torch.rand(500, 784, generator=torch.Generator().manual_seed(0)).to(device)
    loader = tool.IndexedBatches(data, batch_size, shuffle=True, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = vm.build_vae("conv", 784, (64,), 4).to(device)
    optimizer = vm.new_optimizer(model)
    prior_mu, prior_var = torch.zeros(500, 4, device=device), torch.ones(500, 4, device=device)
    noise = torch.Generator(device=device).manual_seed(0)
    vm.train(model, loader, prior_mu, prior_var, 1, optimizer, generator=noise)  # warm-up: lazy init syncs
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            history = vm.train(model, loader, prior_mu, prior_var, epochs, optimizer, generator=noise)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    assert len(history) == epochs and all(h < 0 for h in history)
    return [str(w.message) for w in caught if "called a synchronizing" in str(w.message)]


def test_training_syncs_with_the_host_per_epoch_not_per_batch():
    """Nothing inside an epoch waits for the GPU: the shuffle order is copied over and the
    ELBO read back once per epoch, so 10 or 20 batches an epoch make the same few syncs."""
    few, many = count_host_syncs(batch_size=50), count_host_syncs(batch_size=25)
    assert 1 <= len(few) <= 2 * 3, few
    assert len(many) == len(few), many


def test_one_default_epoch_is_timed(capsys):
    """One epoch of the default conv VAE on 10,000 random images, batch 100, after a warm-up:
    its seconds are printed (run with -s to see them) and it must be under a minute."""
    device = torch.device("cuda")
    data = torch.rand(10000, 784, generator=torch.Generator().manual_seed(0)).to(device)
    loader = tool.IndexedBatches(data, 100, shuffle=True, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = vm.build_vae("conv", 784, (256,), 12).to(device)
    optimizer = vm.new_optimizer(model)
    prior_mu, prior_var = torch.zeros(10000, 12, device=device), torch.ones(10000, 12, device=device)
    noise = torch.Generator(device=device).manual_seed(0)
    vm.train(model, loader, prior_mu, prior_var, 1, optimizer, generator=noise)
    torch.cuda.synchronize()
    start = time.perf_counter()
    vm.train(model, loader, prior_mu, prior_var, 1, optimizer, generator=noise)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    with capsys.disabled():
        print(f"\none default VAE epoch (10,000 images, batch 100) on {torch.cuda.get_device_name()}: {seconds:.2f} s")
    assert seconds < 60


def test_main_checkpoint_loads_on_the_cpu(tiny_mnist, tmp_path):
    proc = run_main(tmp_path, f"--data_root={tiny_mnist}", "--dir_name=c", "--device=cuda", *CUDA_TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    from run_folder import files
    cfg = json.loads((tmp_path / "model/c/config.json").read_text())
    model = files.load_vae(str(tmp_path / "model/c"), 1, cfg, torch.device("cpu"))
    assert next(model.parameters()).device.type == "cpu"
