"""Data-parallel training of one run over several processes (issue 16,
item 5): ``torchrun --nproc-per-node=N -m lib.pretrain …`` with
:class:`torch.nn.parallel.DistributedDataParallel` (NCCL on CUDA, gloo on the CPU).

* The world size is the run's own (:attr:`RunConfig.world_size`; the per-rank
  batch is the recipe's ``batch_size``, the global batch N times it), so it is
  in the key: a data-parallel run never collides with the single-process run
  of the same config, and a fine-tune started from it (in one process) finds it.
  Such a run trains only in a process group of its size (:func:`check_world`).
* Each rank trains on a fixed, equal-sized shard of the training set (a seeded
  permutation split N ways), reshuffled and augmented every epoch by its loader.
* Rank 0 alone writes (checkpoints, manifest, log, lock); the others wait at a
  barrier after each write and read the same files to resume.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from lib.devices import resolve_device


def context() -> tuple[int, int]:
    """(rank, world size) of the initialised process group, else (0, 1)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def check_world(config) -> None:
    """Fail unless this process group has ``config.world_size`` processes
    (before training it: a cached run loads in any process)."""
    world = context()[1]
    if world != config.world_size:
        raise RuntimeError(
            f"run {config.label or config.key()} has world_size={config.world_size}, but this "
            f"process group has {world} process(es): train it with `torchrun "
            f"--nproc-per-node={config.world_size} -m lib.pretrain …` (or `python -m lib.sweep "
            f"run --source-world-size {config.world_size}`), then fine-tune in one process")


def init_from_env(device: str = "auto") -> str:
    """Join the process group that ``torchrun`` describes in the environment
    (``WORLD_SIZE`` > 1); returns the device this rank trains on."""
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
