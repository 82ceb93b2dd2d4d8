"""Checks that the CUDA path (bf16 autocast, channels_last, optional
torch.compile) agrees with the CPU float32 path (issue: Models and training,
item 3). Needs a GPU; exits 0 with a message where there is none.

For WRN-40-2 on 3×32×32 it compares, from identical weights and inputs:
logits (eval mode) and the loss and parameter update of one SGD step.
Writes ``benchmarks/results/cuda_path_check.json`` (with ``--compile``:
``cuda_path_check_compile.json``).

    python benchmarks/cuda_path_check.py [--compile]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from lib.models import build_model
from lib.training.precision import autocast, maybe_compile, prepare_model

RESULTS = Path(__file__).resolve().parent / "results"
# bf16 keeps 8 bits of mantissa: relative agreement of a few 1e-2 is expected.
LOGIT_TOL, LOSS_TOL, UPDATE_TOL = 0.05, 0.02, 0.1


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def one_step(model, x, y, device, compiled: bool):
    runnable = maybe_compile(model, compiled)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    with autocast(device):
        loss = F.cross_entropy(runnable(x).float(), y)
    optimizer.zero_grad()
    loss.backward()
    before = torch.cat([p.detach().flatten().float().cpu() for p in model.parameters()])
    optimizer.step()
    after = torch.cat([p.detach().flatten().float().cpu() for p in model.parameters()])
    return float(loss), after - before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU on this machine: nothing to check")
        return 0
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    torch.manual_seed(0)
    reference = build_model("wrn-40-2", 10, 3)
    x = torch.rand(64, 3, 32, 32)
    y = torch.randint(0, 10, (64,))

    cpu_model = prepare_model(copy.deepcopy(reference), cpu).eval()
    gpu_model = prepare_model(copy.deepcopy(reference), cuda).eval()
    x_cl = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        cpu_logits = cpu_model(x_cl)
        with autocast(cuda):
            gpu_logits = maybe_compile(gpu_model, args.compile)(x_cl.to(cuda)).float().cpu()
    cpu_loss, cpu_update = one_step(prepare_model(copy.deepcopy(reference), cpu).train(),
                                    x_cl, y, cpu, False)
    gpu_loss, gpu_update = one_step(prepare_model(copy.deepcopy(reference), cuda).train(),
                                    x_cl.to(cuda), y.to(cuda), cuda, args.compile)
    result = {
        "gpu": torch.cuda.get_device_name(cuda), "torch": torch.__version__,
        "compile": args.compile,
        "logits_relative_error": relative(gpu_logits, cpu_logits),
        "same_argmax_fraction": float((gpu_logits.argmax(1) == cpu_logits.argmax(1)).float().mean()),
        "loss_cpu": cpu_loss, "loss_gpu": gpu_loss,
        "loss_relative_error": abs(gpu_loss - cpu_loss) / abs(cpu_loss),
        "update_relative_error": relative(gpu_update, cpu_update),
    }
    result["pass"] = (result["logits_relative_error"] < LOGIT_TOL
                      and result["loss_relative_error"] < LOSS_TOL
                      and result["update_relative_error"] < UPDATE_TOL)
    RESULTS.mkdir(exist_ok=True)
    name = "cuda_path_check_compile.json" if args.compile else "cuda_path_check.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
