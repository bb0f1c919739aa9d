"""The VAE on a CUDA device: same numbers as on the CPU, no host syncs inside an epoch, main.py end to end.

Skipped where torch sees no CUDA device (CI has none); run them on a GPU machine with
`python -m pytest tests/test_cuda.py`.
"""
import csv
import json
import warnings

import pytest
import torch

import main
import tool
import vae_module as vm
from run_folder import files as run_dir
from helpers import TINY, run_main

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def small_vae(seed=0):
    torch.manual_seed(seed)
    return vm.VAE(784, (64,), 4)


def test_cuda_and_cpu_give_the_same_loss_terms():
    """Encoder, decoder and KL of the same weights on the same batch agree across devices."""
    g = torch.Generator().manual_seed(0)
    o, prior_mu, prior_var = torch.rand(32, 784, generator=g), torch.randn(32, 4, generator=g), torch.rand(32, 4) + 0.1
    cpu, gpu = small_vae(), small_vae().cuda()
    m_cpu, logvar_cpu = cpu.encode(o)
    m_gpu, logvar_gpu = gpu.encode(o.cuda())
    torch.testing.assert_close(m_gpu.cpu(), m_cpu, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch.sigmoid(gpu.decode_logits(m_gpu)).cpu(), torch.sigmoid(cpu.decode_logits(m_cpu)),
                               rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(vm.kl_to_prior(m_gpu, logvar_gpu, prior_mu.cuda(), prior_var.cuda()).cpu(),
                               vm.kl_to_prior(m_cpu, logvar_cpu, prior_mu, prior_var), rtol=1e-4, atol=1e-4)


def count_host_syncs(batch_size, epochs=3):
    """Synchronising CUDA calls made by vm.train over `epochs` epochs of 500 images on the GPU."""
    device = torch.device("cuda")
    data = torch.rand(500, 784, generator=torch.Generator().manual_seed(0)).to(device)
    loader = tool.IndexedBatches(data, batch_size, shuffle=True, generator=torch.Generator().manual_seed(0))
    model = small_vae().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
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


def test_main_runs_on_cuda(tiny_mnist, tmp_path):
    args = [a for a in TINY if not a.startswith("--device")]
    proc = run_main(tmp_path, f"--data_root={tiny_mnist}", "--dir_name=c", "--device=cuda", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "device cuda" in proc.stdout
    d = tmp_path / "model" / "c"
    assert json.loads((d / "config.json").read_text())["device"] == "cuda"
    with open(d / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["round"] for r in rows] == ["0", "1"] and all(0 < float(r["acc"]) <= 1 for r in rows)
    # a checkpoint saved on the GPU loads onto the CPU
    model = run_dir.load_vae(str(d), 1, main.parse_settings(args + ["--dir_name=c"]) | {"x_dim": 784},
                             torch.device("cpu"))
    assert next(model.parameters()).device.type == "cpu"


def test_run_saved_on_cuda_resumes_on_cuda(tiny_mnist, tmp_path):
    """The checkpoint's random-generator states come back from the GPU as CPU tensors."""
    args = [a for a in TINY if not a.startswith(("--device", "--mutual_iteration"))]
    proc = run_main(tmp_path, f"--data_root={tiny_mnist}", "--dir_name=r", "--device=cuda",
                    "--mutual_iteration=1", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run_main(tmp_path, f"--data_root={tiny_mnist}", "--dir_name=r", "--device=cuda",
                    "--mutual_iteration=2", "--resume=True", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(tmp_path / "model" / "r" / "metrics.csv") as f:
        assert [r["round"] for r in csv.DictReader(f)] == ["0", "1"]
