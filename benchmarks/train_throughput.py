"""Training throughput of this engine against a reference-style pipeline
(issue: Models and training, item 9), measured in one run on one machine.

* **reference**: the official code's style — per-image PIL transforms
  (RandomCrop with padding 4, RandomHorizontalFlip, ToTensor) in a torch
  DataLoader, float32, eager, NCHW;
* **engine**: the on-device loader (crop/flip per batch on the device),
  channels_last, and on CUDA bf16 autocast (optionally ``torch.compile``);
* on the CPU also **engine, bf16 autocast**: the engine under the opt-in
  ``cpu_precision="bf16"`` (``Preset.cpu_autocast``), against the float32
  engine, here and again in a child process with oneDNN capped at AVX2
  (``ONEDNN_MAX_CPU_ISA=AVX2``), as on a CPU without AVX512-BF16 or AMX, where
  bf16 is emulated (issue 23). The float32 engine's rate is the scale of the
  recorded cold build (``benchmarks/book_build.py``): a machine at 0.8× of it
  takes about 1/0.8 as long.

Same model, same batch size (128), same optimizer. Defaults: WRN-16-1 on
1×28×28 on the CPU (goal ≥ 1.3×), WRN-40-2 on 3×32×32 on CUDA (goal ≥ 5×).
Writes ``benchmarks/results/train_throughput_<device>.{md,json}``.

    python benchmarks/train_throughput.py [--device cpu|cuda] [--steps 30] [--compile]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from lib.data.base import ImageDataset
from lib.data.loader import DeviceLoader
from lib.devices import resolve_device
from lib.models import build_model
from lib.training.precision import autocast, maybe_compile, native_cpu_bf16, prepare_model

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 128
SETTINGS = {"cpu": ("wrn-16-1", 1, 28, 1.3), "cuda": ("wrn-40-2", 3, 32, 5.0)}


class PILImages(Dataset):
    """Per-image PIL pipeline, as in the reference training scripts."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, size: int):
        self.images, self.labels = images, labels
        self.transform = transforms.Compose([transforms.RandomCrop(size, padding=4),
                                             transforms.RandomHorizontalFlip(),
                                             transforms.ToTensor()])

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        array = self.images[i].transpose(1, 2, 0)
        image = Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array)
        return self.transform(image), int(self.labels[i])


def timed_steps(step, batches, steps: int, warmup: int, device) -> float:
    """images/s over ``steps`` batches after ``warmup`` batches."""
    iterator = iter(batches)
    for _ in range(warmup):
        step(*next(iterator))
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step(*next(iterator))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * BATCH / (time.perf_counter() - start)


def cpu_engines(engine_throughput, new_model, compiled: bool) -> dict:
    """images/s of the float32 engine and of the bf16-autocast engine on the CPU."""
    rates = {}
    for name, bf16 in (("float32", False), ("bf16", True)):
        model = prepare_model(new_model(), torch.device("cpu"))
        rates[name] = round(engine_throughput(model, maybe_compile(model, compiled), bf16), 1)
    return rates


def emulated_bf16(args) -> dict:
    """Both CPU engines' rates in a child process whose oneDNN is capped at
    AVX2, so that bf16 runs as on a CPU without native bf16 (emulated)."""
    command = [sys.executable, __file__, "--device", "cpu", "--engines-only",
               "--steps", str(args.steps), "--warmup", str(args.warmup)]
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"}
    out = subprocess.run(command + ["--compile"] * args.compile, env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def forever(make_iterable):
    while True:
        yield from make_iterable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="reference DataLoader workers")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--engines-only", action="store_true",
                        help="CPU: print the float32 and bf16 engines' rates as JSON, record nothing")
    parser.add_argument("--architecture", default=None,
                        help="another architecture (e.g. wrn-28-10), same input; recorded in "
                             "train_throughput_<device>_<architecture>.{md,json}")
    args = parser.parse_args()
    device = resolve_device(args.device)
    arch, channels, size, goal = SETTINGS[device.type]
    arch = args.architecture or arch
    n = BATCH * (args.steps + args.warmup + 2)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, channels, size, size), dtype=np.uint8)
    labels = rng.integers(0, 10, n)

    def make_step(model, optimizer, use_autocast, cpu_autocast=False):
        def step(x, y):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with (autocast(device, cpu_autocast) if use_autocast
                  else torch.autocast("cpu", enabled=False)):
                loss = F.cross_entropy(model(x).float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return step

    def new_model():
        torch.manual_seed(0)
        return build_model(arch, 10, channels)

    # engine: on-device loader, channels_last, bf16 autocast on CUDA, optional compile
    engine_model = prepare_model(new_model(), device)
    runnable = maybe_compile(engine_model, args.compile)
    device_loader = DeviceLoader(ImageDataset(images, labels, 10), BATCH, augment=True,
                                 device=device, channels_last=True, drop_last=True)

    def engine_throughput(model, runnable, cpu_autocast=False):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9,
                                    nesterov=True, weight_decay=5e-4)
        return timed_steps(make_step(runnable, optimizer, True, cpu_autocast),
                           ((b.x, b.y) for b in forever(lambda: device_loader)),
                           args.steps, args.warmup + (10 if args.compile else 0), device)

    if args.engines_only:  # the child of emulated_bf16(): no reference pipeline
        print(json.dumps(cpu_engines(engine_throughput, new_model, args.compile)))
        return
    # reference: float32, eager, NCHW, per-image PIL transforms in a DataLoader
    reference_model = new_model().to(device)
    reference_opt = torch.optim.SGD(reference_model.parameters(), lr=0.01, momentum=0.9,
                                    nesterov=True, weight_decay=5e-4)
    loader = DataLoader(PILImages(images, labels, size), batch_size=BATCH, shuffle=True,
                        num_workers=args.workers, drop_last=True,
                        pin_memory=device.type == "cuda", persistent_workers=args.workers > 0)
    reference = timed_steps(make_step(reference_model, reference_opt, False),
                            forever(lambda: loader), args.steps, args.warmup, device)

    engine = engine_throughput(engine_model, runnable)
    bf16 = emulated = None
    if device.type == "cpu":  # the opt-in cpu_precision="bf16" (Preset.cpu_autocast)
        bf16_model = prepare_model(new_model(), device)
        bf16 = engine_throughput(bf16_model, maybe_compile(bf16_model, args.compile), True)
        emulated = emulated_bf16(args)

    ratio = engine / reference
    hardware = (torch.cuda.get_device_name(device) if device.type == "cuda"
                else f"{platform.machine()}, {os.cpu_count()} CPU cores, {torch.get_num_threads()} threads")
    result = {"date": dt.datetime.now().isoformat(timespec="seconds"), "hardware": hardware,
              "torch": torch.__version__, "architecture": arch,
              "input": f"{channels}x{size}x{size}", "batch": BATCH, "steps": args.steps,
              "reference_images_per_s": round(reference, 1),
              "engine_images_per_s": round(engine, 1), "ratio": round(ratio, 2), "goal": goal,
              "compile": args.compile, "reference_workers": args.workers}
    if bf16 is not None:
        result.update(engine_bf16_images_per_s=round(bf16, 1),
                      bf16_over_float32=round(bf16 / engine, 2),
                      native_cpu_bf16=native_cpu_bf16(),
                      avx2_only_float32_images_per_s=emulated["float32"],
                      avx2_only_bf16_images_per_s=emulated["bf16"],
                      avx2_only_bf16_over_float32=round(emulated["bf16"] / emulated["float32"], 2))
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / (f"train_throughput_{device.type}"
                      + (f"_{arch}" if args.architecture else ""))
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    verdict = "meets" if ratio >= goal else "misses"
    stem.with_suffix(".md").write_text(
        f"# Training throughput: engine vs reference pipeline ({device.type})\n\n"
        f"Measured {result['date']} on {hardware}, torch {torch.__version__}; "
        f"{arch} on {channels}×{size}×{size}, batch {BATCH}, {args.steps} timed steps.\n\n"
        "| pipeline | images/s |\n|---|---:|\n"
        f"| reference: PIL transforms in a DataLoader ({args.workers} workers), float32, eager, NCHW | {reference:,.0f} |\n"
        f"| engine: on-device loader, channels_last{', bf16 autocast' if device.type == 'cuda' else ''}"
        f"{', torch.compile' if args.compile else ''} | {engine:,.0f} |\n"
        f"| ratio | {ratio:.2f}× ({verdict} the goal of {goal}×) |\n"
        + ("" if bf16 is None else
           f"| engine, bf16 autocast on the CPU (opt-in `cpu_precision='bf16'`; native "
           f"bf16: {native_cpu_bf16()}) | {bf16:,.0f} |\n"
           f"| ratio bf16 / float32 engine | {bf16 / engine:.2f}× |\n"
           f"| engine, float32, oneDNN capped at AVX2 (as on a CPU without native bf16) "
           f"| {emulated['float32']:,.0f} |\n"
           f"| engine, bf16 autocast, oneDNN capped at AVX2 (bf16 emulated) "
           f"| {emulated['bf16']:,.0f} |\n"
           f"| ratio bf16 / float32, capped at AVX2 "
           f"| {emulated['bf16'] / emulated['float32']:.2f}× |\n"
           "\nThe quick preset trains in float32 on the CPU (issue 23); its cold build "
           "scales with the float32 engine's rate.\n"))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
