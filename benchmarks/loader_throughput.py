"""Loader throughput against the quick preset's training step (design.md §4–5).

Measures, in one run on this machine:

* the :class:`lib.data.loader.DeviceLoader` in images/s (batch 128, augment on:
  random crop with zero padding 4 + horizontal flip), over Fashion-MNIST when
  available (else the same number of generated 1×28×28 images);
* one training step of WRN-16-1 on 1×28×28 at batch 128 (forward, cross-entropy,
  backward, SGD with momentum) in images/s;
* the ratio, which must be ≥ 20 so the loader never limits training.

Writes ``benchmarks/results/loader_throughput.{md,json}``.

    python benchmarks/loader_throughput.py [--device cpu] [--seconds 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from lib.data import DatasetNotFoundError, ImageDataset, get_dataset
from lib.data.loader import DeviceLoader

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 128
REQUIRED_RATIO = 20.0

from lib.models import wide_resnet


def _dataset() -> tuple[ImageDataset, str]:
    try:
        return get_dataset("fashion_mnist", "train"), "fashion_mnist train (60,000)"
    except DatasetNotFoundError:
        return get_dataset("uniform", "train", num=60000), "uniform noise (60,000, Fashion-MNIST absent)"


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def loader_rate(dataset, device, seconds) -> float:
    """Images/s of augmented batches, consumed (summed) so nothing is skipped lazily."""
    loader = DeviceLoader(dataset, BATCH, shuffle=True, augment=True, device=device, seed=0)
    for batch in loader:  # warm-up epoch (also moves the images to the device)
        pass
    images, epoch, start = 0, 1, time.perf_counter()
    while time.perf_counter() - start < seconds:
        loader.set_epoch(epoch)
        for batch in loader:
            images += len(batch.y)
            if time.perf_counter() - start >= seconds:
                break
        epoch += 1
    _sync(device)
    return images / (time.perf_counter() - start)


def step_rate(device, seconds) -> float:
    """Images/s of WRN-16-1 training steps on 1×28×28 at batch 128."""
    torch.manual_seed(0)
    model = wide_resnet(16, 1, 10, in_channels=1).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
    x = torch.rand(BATCH, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (BATCH,), device=device)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(3):
        step()
    _sync(device)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        steps += 1
    _sync(device)
    return steps * BATCH / (time.perf_counter() - start)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    dataset, data_name = _dataset()
    loader = loader_rate(dataset, device, args.seconds)
    step = step_rate(device, args.seconds)
    hw = (torch.cuda.get_device_name(device) if device.type == "cuda"
          else f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
               f"{torch.get_num_threads()} torch threads")
    result = dict(
        date=dt.datetime.now().isoformat(timespec="seconds"), device=str(device), hardware=hw,
        torch=torch.__version__, python=platform.python_version(), data=data_name,
        batch_size=BATCH, augment="random crop (zero pad 4) + horizontal flip",
        model="WRN-16-1, 1×28×28, 10 classes, SGD step",
        loader_images_per_s=round(loader, 1), step_images_per_s=round(step, 1),
        ratio=round(loader / step, 1), required_ratio=REQUIRED_RATIO,
        passed=bool(loader / step >= REQUIRED_RATIO),
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "loader_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    md = ["# Loader throughput vs. training step", "",
          f"Measured {result['date']} on {hw} ({result['device']}), torch {result['torch']}.", "",
          "| what | images/s |", "|---|---:|",
          f"| DeviceLoader, batch {BATCH}, augment, {data_name} | {loader:,.0f} |",
          f"| training step, {result['model']} | {step:,.0f} |",
          f"| ratio loader / step | {loader / step:,.1f}× (required ≥ {REQUIRED_RATIO:.0f}×: "
          f"{'pass' if result['passed'] else 'FAIL'}) |", ""]
    (RESULTS / "loader_throughput.md").write_text("\n".join(md))
    print("\n".join(md))
    return result


if __name__ == "__main__":
    main()
