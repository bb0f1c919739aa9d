"""A fixed PyTorch workload that owes nothing to this project, to make timings travel.

    python bench/profiler.py calibrate                 # prints the machine and the workload's seconds
    python bench/profiler.py calibrate --out=FILE.json # also writes them

The workload is the network of pytorch/examples' mnist/main.py (two 3x3 convolutions of 32
and 64 channels, max-pooling, dropout, dense 9216 -> 128 -> 10, Adadelta with lr 1.0)
trained for 2 epochs on 10,000 random 28 x 28 images with random labels, batch 64, on the
CPU, with torch's default thread count (or OMP_NUM_THREADS), or on a GPU when told. Every timing file in
bench/results/ records its seconds measured right before, on the same machine, so that a
time can also be read as a multiple of this workload ("25 x calibration").
"""
import os
import platform
import time

import torch
import torch.nn.functional as F
from torch import nn


class ExampleNet(nn.Module):
    """The network of pytorch/examples mnist/main.py."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(self.dropout1(x), 1)
        x = self.dropout2(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


def cpu_info(field):
    """A field of /proc/cpuinfo on Linux ("model name", "vendor_id"), else platform.processor()."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_model():
    """The CPU's model name."""
    return cpu_info("model name")


def machine(device="cpu"):
    """What a timing depends on: CPU, its vector capability, threads, torch; on a CUDA
    device also the GPU's name and memory and the CUDA version torch was built with."""
    rec = {"cpu": cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
           "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
           "omp_num_threads": os.environ.get("OMP_NUM_THREADS", ""), "torch": torch.__version__,
           "python": platform.python_version()}
    if torch.device(device).type == "cuda":
        props = torch.cuda.get_device_properties(torch.device(device))
        rec.update({"gpu": props.name, "gpu_memory_gib": round(props.total_memory / 2**30, 1),
                    "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()})
    return rec


def calibrate(n_images=10000, epochs=2, batch_size=64, seed=0, device="cpu"):
    """Seconds to train ExampleNet for `epochs` on n_images random images, on device (the
    CPU unless told; on a GPU the clock stops after the last step has finished)."""
    device = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(n_images, 1, 28, 28, generator=gen).to(device)
    labels = torch.randint(0, 10, (n_images,), generator=gen).to(device)
    torch.manual_seed(seed)
    model = ExampleNet().to(device)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    model.train()
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(n_images, generator=gen).to(device)
        for i in range(0, n_images, batch_size):
            idx = order[i:i + batch_size]
            optimizer.zero_grad()
            loss = F.nll_loss(model(images[idx]), labels[idx])
            loss.backward()
            optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def record(device="cpu", n_images=10000):
    """machine() plus the workload's seconds (n_images: fewer only for a dry run, and then
    recorded), as written into every timing file."""
    rec = {**machine(device), "calibration_s": round(calibrate(n_images, device=device), 2)}
    return rec if n_images == 10000 else {**rec, "calibration_images": n_images}
