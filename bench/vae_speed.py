"""VAE training throughput (images per second) with main.py's default network and batch size.

    python bench/vae_speed.py --data_root=DIR [--device=cuda] [--architecture=dense]

Trains the default VAE on the first --n_data MNIST images for --epochs epochs (prior
N(0, I), as in round 0) and prints the median over epochs of images per second; the
first epoch is left out as warm-up.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import data  # noqa: E402
import main  # noqa: E402
import run_dir  # noqa: E402
import vae_module  # noqa: E402


def main_bench():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_root", default="./data")
    p.add_argument("--n_data", type=int, default=10000)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--device", default="auto")
    p.add_argument("--architecture", default=main.SETTINGS["architecture"])
    args = p.parse_args()
    cfg = main.parse_settings([f"--n_data={args.n_data}", f"--architecture={args.architecture}"])
    device = main.pick_device(args.device)
    images, _ = data.load_mnist(args.data_root, args.n_data)
    train_loader, _ = main.make_loaders(images, cfg, device)
    torch.manual_seed(cfg["seed"])
    model = run_dir.new_vae({**cfg, "x_dim": images.shape[1]}, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    zeros = torch.zeros(len(images), cfg["latent_dim"], device=device)
    rates = []
    for _ in range(args.epochs):
        start = time.perf_counter()
        vae_module.train(model, train_loader, zeros, zeros + 1.0, 1, optimizer, cfg["alpha"])
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(len(images) / (time.perf_counter() - start))
    print(f"{device}, {args.architecture} VAE, batch {cfg['batch_size']}, {len(images)} images: "
          f"{np.median(rates[1:]):.0f} images/s (median of epochs 2-{args.epochs})")


if __name__ == "__main__":
    main_bench()
