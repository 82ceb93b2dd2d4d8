"""Runs per hour with several runs sharing one device (issue 16, item 4).

Trains the same set of small runs (WRN-16-1 on 1,000 Fashion-MNIST images,
batch 32, like the quick label-noise runs) through the sweep's local executor
in each layout ``WxT``: W worker processes at once, T torch threads each (on
a GPU, W runs share it). Each layout starts from an empty run cache; the wall
time includes each worker's start-up, as in a sweep. Writes
``benchmarks/results/runs_per_device_<device>.{json,md}``.

    python benchmarks/runs_per_device.py --device cpu --layouts 1x2 2x1 [--runs 4]
    python benchmarks/runs_per_device.py --device cuda --layouts 1x4 2x4 4x2 8x1

Other workloads: ``--architecture wrn-40-2 --dataset cifar10 --data-root DIR
--images 10000 --batch 128``; ``--runs-per-worker K`` trains K runs per worker
in each layout (W·K runs) instead of the same ``--runs`` in every layout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from lib.atomic_io import atomic_write_bytes, atomic_write_json
from lib.data import dataset_info
from lib.presets import PRESETS, DataSpec, Recipe
from lib.sweep.executor import SweepRunner
from lib.sweep.plan import Plan, PlannedRun, run_images
from lib.sweep.worker import WorkerSettings
from lib.training import RunConfig, TrainingDataSpec

RESULTS = Path(__file__).resolve().parent / "results"
DATASET_NAMES = {"fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}


def configs(n: int, epochs: int, batch: int, architecture: str = "wrn-16-1",
            dataset: str = "fashion_mnist", images: int = 1000) -> list[RunConfig]:
    data = TrainingDataSpec(DataSpec.of(dataset), size=images)
    channels = dataset_info(dataset).channels
    return [RunConfig(architecture, channels, data, Recipe(epochs=epochs, lr=0.05, batch_size=batch),
                      seed=100 + i, label=f"bench{i}") for i in range(n)]


def measure(runs: list[RunConfig], workers: int, threads: int, device: str,
            data_root: str | None = None) -> float:
    """Wall seconds to train ``runs`` with ``workers`` processes of ``threads`` threads."""
    plan = Plan(PRESETS["smoke"], tuple(PlannedRun(c.key(), c, ("bench",), 0) for c in runs), ())
    with tempfile.TemporaryDirectory() as folder:
        settings = WorkerSettings(str(Path(folder) / "runs"), data_root, device, threads)
        runner = SweepRunner(plan, "local", settings, Path(folder) / "logs", workers=workers,
                             poll_s=0.2, echo=lambda line: None)
        began = time.perf_counter()
        counts = runner.run()
        took = time.perf_counter() - began
    if counts["done"] != len(runs):
        raise RuntimeError(f"layout {workers}x{threads}: {counts}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--layouts", nargs="+", default=["1x2", "2x1"],
                        help="WxT: W runs at once, T threads each")
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--tag", default="", help="suffix of the result files' names")
    parser.add_argument("--architecture", default="wrn-16-1")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--images", type=int, default=1000, help="training images per run")
    parser.add_argument("--runs-per-worker", type=int, default=None,
                        help="each layout WxT trains W times this many runs (default: --runs)")
    args = parser.parse_args()
    load_at_start = [round(x, 2) for x in os.getloadavg()]  # other work skews the ratios
    workload = (args.architecture, args.dataset, args.images)
    runs = configs(args.runs, args.epochs, args.batch, *workload)
    images = sum(run_images(c) for c in runs)
    rows = []
    for layout in args.layouts:
        workers, threads = (int(x) for x in layout.split("x"))
        if args.runs_per_worker:
            runs = configs(workers * args.runs_per_worker, args.epochs, args.batch, *workload)
            images = sum(run_images(c) for c in runs)
        seconds = measure(runs, workers, threads, args.device, args.data_root)
        rows.append({"layout": layout, "workers": workers, "threads": threads,
                     "seconds": round(seconds, 1), "runs_per_hour": round(3600 * len(runs) / seconds, 1),
                     "images_per_s": round(images / seconds, 1)})
        if args.runs_per_worker:
            rows[-1].update(runs=len(runs), images=images)
        print(f"{layout}: {seconds:.1f} s, {rows[-1]['runs_per_hour']} runs/h, "
              f"{rows[-1]['images_per_s']} img/s", flush=True)
    device = torch.device(args.device).type
    hardware = (torch.cuda.get_device_name() if device == "cuda" else
                f"{platform.machine()}, {os.cpu_count()} CPU cores")
    result = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "hardware": hardware, "torch": torch.__version__, "runs": args.runs,
              "epochs": args.epochs, "batch": args.batch, "images": images, "layouts": rows,
              "command": "python benchmarks/runs_per_device.py --device " + args.device
                         + " --layouts " + " ".join(args.layouts) + f" --runs {args.runs}"
                         + f" --epochs {args.epochs} --batch {args.batch}",
              "load_average_at_start": load_at_start}
    name = f"runs_per_device_{device}" + (f"_{args.tag}" if args.tag else "")
    if args.tag:
        result["command"] += f" --tag {args.tag}"
    if workload != ("wrn-16-1", "fashion_mnist", 1000) or args.data_root or args.runs_per_worker:
        result["command"] += (f" --architecture {args.architecture} --dataset {args.dataset}"
                              f" --images {args.images}"
                              + (f" --data-root {args.data_root}" if args.data_root else "")
                              + (f" --runs-per-worker {args.runs_per_worker}"
                                 if args.runs_per_worker else ""))
        result.update(architecture=args.architecture, dataset=args.dataset,
                      images_per_run=args.images, runs_per_worker=args.runs_per_worker)
    atomic_write_json(RESULTS / f"{name}.json", result)
    lines = [f"# Runs per device ({device})", "",
             f"Measured {result['date']} on {hardware}, torch {torch.__version__}: "
             + (f"{args.runs_per_worker} run(s) per worker" if args.runs_per_worker
                else f"{args.runs} runs")
             + f" of {args.architecture.upper()} on {args.images:,} "
             f"{DATASET_NAMES.get(args.dataset, args.dataset)} images, {args.epochs} epochs, "
             f"batch {args.batch}, through the local executor (worker start-up included).", "",
             "| layout (runs at once × threads) | wall s | runs/h | images/s |", "|---|---:|---:|---:|"]
    lines += [f"| {r['layout']} | {r['seconds']} | {r['runs_per_hour']} | {r['images_per_s']} |"
              for r in rows]
    atomic_write_bytes(RESULTS / f"{name}.md", ("\n".join(lines) + "\n").encode())
    print(f"wrote {RESULTS / f'{name}.md'}")


if __name__ == "__main__":
    main()
