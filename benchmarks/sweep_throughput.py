"""Training throughput of the engine for every workload a preset's sweep
trains (issue 16, item 1): the table ``python -m lib.sweep plan`` estimates
device-hours from.

For each (architecture, channels, image size, batch size) in the plans of the
given presets, times ``train_one_epoch`` (the engine's own loop: on-device
loader with augmentation, channels_last, bf16 autocast on CUDA) over random
images, after one warm-up epoch. Results are merged into
``benchmarks/results/sweep_throughput_<device>.json`` (an entry measured again
replaces the old one).

    python benchmarks/sweep_throughput.py --device cpu --presets smoke quick paper \
        [--seconds 8] [--threads N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time

import numpy as np
import torch

from lib.atomic_io import atomic_write_json
from lib.data.base import ImageDataset
from lib.data.loader import DeviceLoader
from lib.devices import resolve_device
from lib.models import build_model
from lib.presets import Recipe
from lib.sweep.plan import build_plan, workload
from lib.sweep.throughput import path_for
from lib.training.engine import make_optimizer, train_one_epoch
from lib.training.precision import prepare_model


def workloads(presets) -> list[tuple]:
    """Distinct (architecture, channels, image size, batch size) of the plans."""
    seen = {}
    for preset in presets:
        for run in build_plan(preset).runs:
            seen[(*workload(run.config), run.config.recipe.batch_size)] = None
    return list(seen)


def measure(architecture, channels, size, batch, device, seconds: float) -> tuple[float, int]:
    """(images/s, images timed) of one training epoch sized to last about ``seconds``."""
    torch.manual_seed(0)
    model = prepare_model(build_model(architecture, 10, channels), device)

    def epoch(batches: int) -> tuple[float, float]:
        rng = np.random.default_rng(0)
        data = ImageDataset(rng.integers(0, 256, (batch * batches, channels, size, size),
                                         dtype=np.uint8), rng.integers(0, 10, batch * batches), 10)
        loader = DeviceLoader(data, batch, shuffle=True, augment=True, device=device,
                              channels_last=True, drop_last=True)
        recipe = Recipe(epochs=1, lr=0.01, batch_size=batch)
        optimizer, scheduler = make_optimizer(model, recipe, len(loader))
        _, _, ips, took = train_one_epoch(model, loader, optimizer, scheduler, recipe, device)
        return ips, took

    cuda = device.type == "cuda"
    ips, _ = epoch(5 if cuda else 1)  # warm-up: allocator, kernels (CUDA: cuDNN's autotuning)
    # CUDA: at least 20 batches, so that the untimed tail of the launch queue is small
    batches = max(20 if cuda else 1, min(200, int(seconds * ips / batch)))
    ips, _ = epoch(batches)
    return ips, batches * batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--presets", nargs="+", default=["smoke", "quick", "paper"])
    parser.add_argument("--seconds", type=float, default=8.0, help="timed seconds per entry")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (CPU)")
    parser.add_argument("--max-batch", type=int, default=None,
                        help="time batches larger than this at this size")
    parser.add_argument("--missing", action="store_true", help="only unrecorded workloads")
    parser.add_argument("--note", default=None, help="conditions of the measurement (kept)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    target = path_for(device.type)
    old = json.loads(target.read_text()) if target.exists() else {"entries": []}
    entries = {(e["architecture"], e["in_channels"], e["image_size"], e["batch_size"]): e
               for e in old["entries"]}
    hardware = (torch.cuda.get_device_name(device) if device.type == "cuda" else
                f"{platform.machine()}, {os.cpu_count()} CPU cores, "
                f"{torch.get_num_threads()} threads")
    for arch, channels, size, batch in workloads(args.presets):
        batch = min(batch, args.max_batch or batch)
        if args.missing and (arch, channels, size, batch) in entries:
            continue
        began = time.perf_counter()
        ips, images = measure(arch, channels, size, batch, device, args.seconds)
        entries[(arch, channels, size, batch)] = {
            "architecture": arch, "in_channels": channels, "image_size": size,
            "batch_size": batch, "images_per_s": round(ips, 1), "images_timed": images,
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        print(f"{arch} {channels}x{size}x{size} batch {batch}: {ips:.1f} img/s "
              f"({images} images, {time.perf_counter() - began:.0f} s)", flush=True)
        atomic_write_json(target, {
            "device": device.type, "hardware": hardware, "torch": torch.__version__,
            "command": "python benchmarks/sweep_throughput.py " + " ".join(sys.argv[1:]),
            "note": args.note or old.get("note", ""),
            "entries": sorted(entries.values(), key=lambda e: (
                e["architecture"], e["in_channels"], e["image_size"], e["batch_size"]))})
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
