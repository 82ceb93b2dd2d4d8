"""Data-parallel training of one run over several processes (issue 16,
item 5): ``torchrun --nproc-per-node=N -m lib.pretrain …`` with
:class:`torch.nn.parallel.DistributedDataParallel` (NCCL on CUDA, gloo on the CPU).

* The run's key adds the world size and the per-rank batch (the recipe's
  ``batch_size``; the global batch is N times it) to :meth:`RunConfig.key`, so a
  data-parallel run never collides with the single-process run of the same
  config; a single process keeps the plain key.
* Each rank trains on a fixed, equal-sized shard of the training set (a seeded
  permutation split N ways), reshuffled and augmented every epoch by its loader.
* Rank 0 alone writes (checkpoints, manifest, log, lock); the others wait at a
  barrier after each write and read the same files to resume.
"""

from __future__ import annotations

import hashlib
import json
import os

import torch
import torch.distributed as dist


def context() -> tuple[int, int]:
    """(rank, world size) of the initialised process group, else (0, 1)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def run_key(config) -> str:
    """:meth:`RunConfig.key`, with the world size and per-rank batch when N > 1."""
    key = config.key()
    _, world = context()
    if world == 1:
        return key
    text = json.dumps({"run": key, "world_size": world,
                       "per_rank_batch": config.recipe.batch_size}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def init_from_env(device: str = "auto") -> str:
    """Join the process group that ``torchrun`` describes in the environment
    (``WORLD_SIZE`` > 1); returns the device this rank trains on."""
    from lib.devices import resolve_device

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return device
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        dist.init_process_group("nccl")
        return f"cuda:{local}"
    dist.init_process_group("gloo")
    return str(resolved)


def shard(dataset, seed: int):
    """This rank's equal-sized share of ``dataset`` (the whole of it for one process)."""
    rank, world = context()
    if world == 1:
        return dataset
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
    per_rank = len(dataset) // world  # equal step counts: no rank waits on a missing batch
    return dataset.subset(order[rank * per_rank:(rank + 1) * per_rank].sort().values)


def wrap(model):
    """``model`` in DistributedDataParallel when N > 1 (else unchanged)."""
    if context()[1] == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device = next(model.parameters()).device
    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def barrier() -> None:
    if context()[1] > 1:
        dist.barrier()


def from_rank0(value):
    """Rank 0's ``value`` on every rank."""
    if context()[1] == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gathered(value) -> list:
    """Every rank's ``value``, in rank order, on every rank."""
    if context()[1] == 1:
        return [value]
    out = [None] * context()[1]
    dist.all_gather_object(out, value)
    return out


def is_writer() -> bool:
    """Whether this process writes the run's files (rank 0)."""
    return context()[0] == 0
