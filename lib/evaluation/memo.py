"""A disk memo for evaluations (PGD, AutoAttack, sweeps of ε, OOD and clean
errors): the result is stored under the run cache
(``<runs dir>/evaluations/<key>.json``) keyed by a hash of the function name,
the model's weights, the evaluated images and labels, the parameters and the
device type (bf16 autocast on CUDA changes the logits) — so a re-built book re-evaluates
nothing that has not changed, and any change of weights, data or settings
misses the memo. Writes are atomic; an unreadable entry is recomputed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import torch

from lib.atomic_io import atomic_write_json
from lib.training.run_cache import default_runs_dir


def evaluation_key(name: str, model: torch.nn.Module, datasets, params: dict) -> str:
    """sha256 (24 hex digits) of everything that determines the evaluation."""
    h = hashlib.sha256(name.encode())
    for tensor_name, tensor in sorted(model.state_dict().items()):
        h.update(tensor_name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    for data in datasets:
        h.update(data.images.contiguous().numpy().tobytes())
        h.update(data.labels.numpy().tobytes())
    h.update(json.dumps(params, sort_keys=True, default=repr).encode())
    return h.hexdigest()[:24]


def memoized(name: str, model, datasets, params: dict, compute: Callable[[], object],
             runs_dir=None, device=None):
    """``compute()``'s JSON-serialisable result, from the memo when present;
    ``device`` (when given) is part of the key by its type."""
    if device is not None:
        params = {**params, "device": torch.device(device).type}
    path = (runs_dir or default_runs_dir()) / "evaluations" / (
        evaluation_key(name, model, datasets, params) + ".json")
    try:
        return json.loads(path.read_text())["result"]
    except (OSError, ValueError, KeyError):
        pass
    result = compute()
    atomic_write_json(path, {"name": name, "params": params, "result": result})
    return result
