"""What adversarial training costs (paper §3.3: "adversarial training
prohibitively requires at least 10× the usual amount of training time"),
measured in one run on one machine.

Same model, same batch, same optimizer and the engine's own objectives:

* **clean step**: ``cross_entropy`` — one forward and one backward;
* **PGD-k step**: ``adversarial`` (Madry et al. 2018) — k PGD iterations
  (forward + backward to the input) to craft the batch, then the clean step's
  forward and backward on it; about (k+1)× a clean step;
* beside them, what evaluation costs: inference (eval mode, no gradients) and
  a PGD-20 attack in eval mode, in attacked images/s.

Defaults: WRN-16-1 on 1×28×28 on the CPU (the quick preset), WRN-28-10 on
3×32×32 on CUDA (the paper's §3.3 network); batch 128, ε = 8/255, step 2/255.
Writes ``benchmarks/results/pgd_throughput.{md,json}`` (``_cuda`` on a GPU).

    python benchmarks/pgd_throughput.py [--device cpu|cuda] [--batches 5] [--pgd-steps 10]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from lib.attacks import pgd_linf
from lib.data.base import ImageDataset
from lib.data.loader import DeviceLoader
from lib.devices import resolve_device
from lib.models import build_model
from lib.training.objectives import get_objective
from lib.training.precision import autocast, prepare_model

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 128
EPS, STEP = 8 / 255, 2 / 255
SETTINGS = {"cpu": ("wrn-16-1", 1, 28), "cuda": ("wrn-28-10", 3, 32)}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def images_per_s(step, batches, warmup: int, timed: int, device) -> float:
    """Images/s of ``step(batch)`` over ``timed`` batches after ``warmup`` batches."""
    for _ in range(warmup):
        step(next(batches))
    _sync(device)
    start = time.perf_counter()
    for _ in range(timed):
        step(next(batches))
    _sync(device)
    return timed * BATCH / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batches", type=int, default=5, help="timed batches per measurement")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--pgd-steps", type=int, default=10, help="PGD steps in training")
    parser.add_argument("--attack-steps", type=int, default=20, help="PGD steps at test")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: every core)")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    arch, channels, size = SETTINGS[device.type]
    n = BATCH * (args.batches + args.warmup + 1)
    rng = np.random.default_rng(0)
    data = ImageDataset(rng.integers(0, 256, (n, channels, size, size), dtype=np.uint8),
                        rng.integers(0, 10, n), 10)
    loader = DeviceLoader(data, BATCH, augment=True, device=device, channels_last=True,
                          drop_last=True)

    def batches():
        epoch = 0
        while True:
            loader.set_epoch(epoch)
            yield from loader
            epoch += 1

    torch.manual_seed(0)
    model = prepare_model(build_model(arch, 10, channels), device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)

    def train_step(objective, **params):
        loss_fn = get_objective(objective)

        def step(batch):
            model.train()
            with autocast(device):
                loss, _ = loss_fn(model, batch, **params)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return step

    def attack_step(batch):
        model.eval()
        with autocast(device):
            adv = pgd_linf(model, batch.x, batch.y, EPS, STEP, args.attack_steps)
            with torch.no_grad():
                model(adv)

    @torch.no_grad()
    def inference_step(batch):
        model.eval()
        with autocast(device):
            model(batch.x)

    stream = batches()
    measure = lambda step: images_per_s(step, stream, args.warmup, args.batches, device)
    clean = measure(train_step("cross_entropy"))
    adversarial = measure(train_step("adversarial", eps=EPS, step_size=STEP,
                                     steps=args.pgd_steps))
    attack = measure(attack_step)
    inference = measure(inference_step)
    ratio = clean / adversarial

    hardware = (torch.cuda.get_device_name(device) if device.type == "cuda"
                else f"{platform.machine()}, {os.cpu_count()} CPU cores, "
                     f"{torch.get_num_threads()} torch threads")
    k = args.pgd_steps
    result = {"date": dt.datetime.now().isoformat(timespec="seconds"), "hardware": hardware,
              "torch": torch.__version__, "architecture": arch,
              "input": f"{channels}x{size}x{size}", "batch": BATCH,
              "timed_batches": args.batches, "warmup_batches": args.warmup,
              "pgd_train_steps": k, "pgd_test_steps": args.attack_steps,
              "clean_train_images_per_s": round(clean, 1),
              f"pgd{k}_train_images_per_s": round(adversarial, 1),
              "slowdown": round(ratio, 2), "expected_slowdown": k + 1,
              f"pgd{args.attack_steps}_attack_images_per_s": round(attack, 1),
              "inference_images_per_s": round(inference, 1),
              "load_average_1min_before": round(load, 2)}
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / ("pgd_throughput" + ("" if device.type == "cpu" else f"_{device.type}"))
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(
        f"# Adversarial training throughput ({device.type})\n\n"
        f"Measured {result['date']} on {hardware}, torch {torch.__version__}; {arch} on "
        f"{channels}×{size}×{size}, batch {BATCH}, SGD, ε = 8/255, step 2/255; "
        f"{args.batches} timed batches after {args.warmup} warm-up per row, one run; "
        f"1-minute load average before the run {load:.2f} (other work on the machine "
        "slows every row alike, so the ratio is the robust figure).\n\n"
        "| step | images/s |\n|---|---:|\n"
        f"| clean training step (cross-entropy) | {clean:,.0f} |\n"
        f"| PGD-{k} adversarial training step | {adversarial:,.0f} |\n"
        f"| slowdown clean / PGD-{k} | {ratio:.2f}× (expected ≈ {k + 1}×: {k} attack "
        "iterations + the update) |\n"
        f"| PGD-{args.attack_steps} attack, eval mode (attacked images/s) | {attack:,.0f} |\n"
        f"| inference, eval mode | {inference:,.0f} |\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
