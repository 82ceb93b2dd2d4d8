"""A disk memo for evaluations (clean error, OOD, calibration, PGD, AutoAttack,
sanity curves): a result is stored under the run cache
(``<runs dir>/evaluations/<key>.json``) and keyed by what determines it:

* the evaluation's name and ``version`` (bump it when its code changes);
* the run: its key (:meth:`RunConfig.key`) and the sha256 of its checkpoint
  (from the checkpoint's manifest, so no weight is re-hashed), and its
  model's input normalization when that is not the default (issue 15);
* the evaluated data, as specs (:class:`EvalDataSpec` or any JSON-able
  description), not as pixels;
* only the parameters that change the result (never a page's prose), and the
  device type (a CUDA and a CPU evaluation may differ in the last digits).

Writes are atomic; an unreadable entry is recomputed; a read-only cache is
served, and a result that cannot be stored is returned all the same.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from lib.atomic_io import atomic_write_json
from lib.training.run_cache import default_runs_dir


class MemoNotWrittenWarning(RuntimeWarning):
    """An evaluation could not be stored (e.g. a read-only run cache); it was computed."""


def _spec(data) -> object:
    return data.to_dict() if hasattr(data, "to_dict") else data


def _canonical(value):
    """JSON for what json cannot write itself: specs (``to_dict``) and numpy
    scalars. Anything else fails: a ``repr`` (an object's address, a page's
    settings) would make the key change from one build to the next."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy / torch scalars
        return value.item()
    raise TypeError(f"evaluation memo: a {type(value).__name__} cannot key an evaluation; "
                    "pass the numbers, strings and data specs that determine the result")


def run_identity(run) -> dict:
    """What identifies a trained model: its run key and checkpoint digest, and
    its normalization when not the default (left out otherwise, so the keys of
    every default model stay as they were)."""
    identity = {"key": run.key, "digest": getattr(run, "digest", "")}
    model = getattr(run, "model", None)
    if getattr(model, "default_normalization", True) is False:
        identity["normalization"] = model.normalization.to_dict()
    return identity


def evaluation_key(name: str, run, data, params: dict, version: int = 1) -> str:
    """sha256 (24 hex digits) of everything that determines the evaluation."""
    text = json.dumps({"name": name, "version": version, "run": run_identity(run),
                       "data": [_spec(d) for d in data], "params": params},
                      sort_keys=True, default=_canonical)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def memoized(name: str, run, data, params: dict, compute: Callable[[], object], *,
             device, runs_dir=None, version: int = 1):
    """``compute()``'s JSON-serialisable result for ``run`` (a
    :class:`~lib.training.TrainedRun`) on ``data`` (a list of specs), from the
    memo when present."""
    params = {**params, "device": torch.device(device).type}
    path = Path(runs_dir or default_runs_dir()) / "evaluations" / (
        evaluation_key(name, run, data, params, version) + ".json")
    try:
        return json.loads(path.read_text())["result"]
    except (OSError, ValueError, KeyError, TypeError):  # missing or unreadable: recompute
        pass
    result = compute()
    try:
        atomic_write_json(path, {"name": name, "version": version, "run": run_identity(run),
                                 "params": params, "result": result})
    except OSError as error:  # a read-only shared cache still serves the build
        warnings.warn(f"evaluation memo not written ({error.__class__.__name__}); "
                      "the result is used but not cached", MemoNotWrittenWarning, stacklevel=2)
    return result
