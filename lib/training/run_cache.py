"""``train_or_load``: the run cache behind every experiment (design.md §3).

A run lives in ``<runs dir>/<key>/`` where ``key`` hashes everything that
determines its weights (:meth:`RunConfig.key`). ``model.pt`` is the finished
model; ``state.pt`` the last completed epoch (model, optimizer, schedule, RNG),
from which an interrupted run resumes. Both are written atomically and
verified on load; a corrupted or foreign file is reported and retrained.
Checkpoints shipped with the package (``lib/checkpoints/<key>.pt``, e.g. the
quick pre-trained source model) are used when the cache lacks the run.
"""

from __future__ import annotations

import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from lib.atomic_io import atomic_write_json
from lib.data.loader import DeviceLoader
from lib.devices import describe_device, resolve_device
from lib.models import build_model
from lib.provenance import git_commit, utc_now
from lib.training.checkpoints import (
    CorruptCheckpointError,
    load_verified,
    read_manifest,
    remove_checkpoint,
    save_verified,
)
from lib.training.engine import (
    EpochRecord,
    make_optimizer,
    predict_logits,
    tracked_metrics,
    train_one_epoch,
)
from lib.training.precision import maybe_compile, prepare_model
from lib.training.progress import RunProgress
from lib.training.run_config import RunConfig

_REPO = Path(__file__).resolve().parents[2]
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "checkpoints"


class DiscardedCheckpointWarning(RuntimeWarning):
    """A cached checkpoint was unusable (truncated, altered or foreign) and is retrained."""


def default_runs_dir() -> Path:
    """``$RUNS_DIR`` if set, else ``runs/`` at the repository root."""
    return Path(os.environ.get("RUNS_DIR", _REPO / "runs")).expanduser()


@dataclass
class TrainedRun:
    """A trained model with its history (one dict per epoch) and where it came from."""

    config: RunConfig
    key: str
    model: nn.Module
    history: list[dict]
    from_cache: bool
    wall_time_s: float
    path: Path
    info: dict = field(default_factory=dict)
    digest: str = ""  # sha256 of the checkpoint file (its manifest), identifies the weights


def _build(config: RunConfig, num_classes: int) -> nn.Module:
    return build_model(config.architecture, num_classes, config.in_channels,
                       dropout=config.recipe.dropout)


def _from_payload(config: RunConfig, key: str, payload: dict, path: Path, device,
                  from_cache: bool) -> TrainedRun:
    model = _build(config, int(payload["num_classes"]))
    model.load_state_dict(payload["model"])
    model = prepare_model(model, device).eval()
    return TrainedRun(config, key, model, list(payload["history"]), from_cache,
                      float(payload.get("wall_time_s", 0.0)), path,
                      dict(payload.get("info", {})), _digest(path))


def _digest(path: Path) -> str:
    try:
        return str(read_manifest(path).get("sha256", ""))
    except CorruptCheckpointError:
        return ""


def _try_load(path: Path, key: str, config: RunConfig, device, progress: RunProgress):
    try:
        payload = load_verified(path, key)
    except FileNotFoundError:
        return None
    except (CorruptCheckpointError, RuntimeError, EOFError, KeyError) as error:
        progress.message(f"discarding unusable checkpoint ({error}); retraining")
        warnings.warn(f"run {key}: {error}; it will be retrained", DiscardedCheckpointWarning,
                      stacklevel=3)
        return None
    return _from_payload(config, key, payload, path, device, from_cache=True)


def train_or_load(config: RunConfig, *, root=None, device="auto", runs_dir=None,
                  compile: bool = False, verbose: bool = True, force: bool = False) -> TrainedRun:
    """Return the trained model for ``config``, training it only if no valid
    checkpoint exists (its parent ``config.init`` likewise, recursively).

    ``root`` is the data root; ``force=True`` retrains even when cached.
    """
    device = resolve_device(device) if not isinstance(device, torch.device) else device
    key = config.key()
    run_dir = Path(runs_dir or default_runs_dir()) / key
    final_path, state_path = run_dir / "model.pt", run_dir / "state.pt"
    title = config.label or key
    progress = RunProgress(title, config.recipe.epochs, 0, run_dir / "train.log", verbose)

    if not force:
        for candidate in (final_path, SHIPPED_DIR / f"{key}.pt"):
            run = _try_load(candidate, key, config, device, progress)
            if run is not None:
                if candidate != final_path:  # seed the cache from the shipped copy
                    run_dir.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(candidate, final_path)
                    shutil.copyfile(str(candidate) + ".json", str(final_path) + ".json")
                    run.path = final_path
                return run
            if candidate == final_path and final_path.exists():
                remove_checkpoint(final_path)
    else:
        remove_checkpoint(final_path)
        remove_checkpoint(state_path)

    parent = None
    if config.init is not None:
        parent = train_or_load(config.init, root=root, device=device, runs_dir=runs_dir,
                               compile=compile, verbose=verbose)
    return _train(config, key, run_dir, parent, root, device, compile, progress)


def _train(config, key, run_dir, parent, root, device, compile, progress) -> TrainedRun:
    recipe = config.recipe
    train_data, _ = config.data.build(root)
    num_classes = train_data.num_classes
    torch.manual_seed(config.seed)
    model = _build(config, parent.model.num_classes if parent else num_classes)
    if parent is not None:
        model.load_state_dict({k: v.cpu() for k, v in parent.model.state_dict().items()})
        model.replace_classifier(num_classes)
        model.set_dropout(recipe.dropout)
    model = prepare_model(model, device)
    runnable = maybe_compile(model, compile and device.type == "cuda")
    loader = DeviceLoader(train_data, recipe.batch_size, shuffle=True, augment=recipe.augment,
                          device=device, seed=config.seed, channels_last=True)
    optimizer, scheduler = make_optimizer(model, recipe, len(loader))
    progress.batches = len(loader)
    eval_data = config.track.build(root) if config.track is not None else None

    history: list[dict] = []
    start_epoch, elapsed = 0, 0.0
    try:
        state = load_verified(state_path := run_dir / "state.pt", key)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        start_epoch, history = int(state["epoch"]), list(state["history"])
        elapsed = float(state["wall_time_s"])
        progress.message(f"resuming after epoch {start_epoch}/{recipe.epochs}")
    except FileNotFoundError:
        pass
    except (CorruptCheckpointError, RuntimeError, EOFError, KeyError) as error:
        progress.message(f"discarding unusable resume state ({error}); starting over")
        remove_checkpoint(state_path)

    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "config.json", {"key": key, "label": config.label,
                                                "config": config.to_dict()})
    for epoch in range(start_epoch, recipe.epochs):
        began = time.perf_counter()
        loader.set_epoch(epoch)
        progress.start_epoch(epoch + 1)
        loss, acc, ips, seconds = train_one_epoch(
            runnable, loader, optimizer, scheduler, recipe, device, config.objective,
            dict(config.objective_params), on_batch=progress.on_batch)
        record = EpochRecord(epoch + 1, loss, acc, optimizer.param_groups[0]["lr"], ips, seconds)
        if eval_data is not None:
            for name, value in tracked_metrics(predict_logits(model, eval_data, device),
                                               eval_data.labels).items():
                setattr(record, name, value)
        history.append(record.to_dict())
        elapsed += time.perf_counter() - began
        progress.end_epoch(record)
        save_verified(state_path, {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state(),
            "epoch": epoch + 1, "history": history, "wall_time_s": elapsed}, key)

    info = {"device": describe_device(device), "commit": git_commit(), "date": utc_now(),
            "train_size": len(train_data), "label": config.label}
    payload = {"model": {k: v.cpu() for k, v in model.state_dict().items()},
               "num_classes": num_classes, "history": history, "wall_time_s": elapsed,
               "info": info}
    digest = save_verified(run_dir / "model.pt", payload, key, extra=info)
    remove_checkpoint(run_dir / "state.pt")
    model.eval()
    return TrainedRun(config, key, model, history, False, elapsed, run_dir / "model.pt", info,
                      digest)
