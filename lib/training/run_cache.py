"""``train_or_load``: the run cache behind every experiment (design.md §3).

A run lives in ``<runs dir>/<key>/`` where ``key`` hashes everything that
determines its weights (:meth:`RunConfig.key`). ``model.pt`` is the finished
model; ``state.pt`` the last completed epoch (model, optimizer, schedule, RNG),
from which an interrupted run resumes. Both are written atomically and
verified on load; a corrupted or foreign file in the cache is reported and
retrained, but one that is not a plain weights file (a pickle that would run
code) fails, naming it and how to recover, and is left for the user to delete
(issue 28, item 1). A cache that cannot be written and lacks a run says which
run (:mod:`lib.storage` words its other storage errors). Checkpoints shipped
with the package (``lib/checkpoints/<key>.pt``, e.g. the quick pre-trained
source model) are used when the cache lacks the run; a damaged shipped file
fails, saying how to restore it (issue 15, item 5). Many workers may share
one cache (issue 16, item 3): training a key holds its lock
(:mod:`lib.training.locks`), and readers need no lock.
"""

from __future__ import annotations

import errno
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from lib.atomic_io import atomic_write_json
from lib.data.loader import DeviceLoader
from lib.devices import describe_device, resolve_device
from lib.paths import REPO, default_runs_dir
from lib.models import build_model
from lib.provenance import git_commit, utc_now
from lib.storage import SHARED_CACHE_ADVICE, StorageError, reason, setting_of
from lib.training.checkpoints import (
    CorruptCheckpointError,
    UnsafeCheckpointError,
    copy_verified,
    load_verified,
    load_verified_digest,
    read_manifest,
    remove_checkpoint,
    save_verified,
)
from lib.training import distributed
from lib.training.locks import RunLock
from lib.training.engine import (
    EpochRecord,
    make_optimizer,
    predict_logits,
    tracked_metrics,
    train_one_epoch,
)
from lib.training.precision import (maybe_compile, prepare_model, training_precision,
                                    training_tf32)
from lib.training.progress import RunProgress
from lib.training.run_config import RunConfig

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "checkpoints"
LOCK_NAME = ".lock"  # <runs dir>/<key>/.lock, held while the run trains


class DiscardedCheckpointWarning(RuntimeWarning):
    """A cached checkpoint was unusable (truncated, altered or foreign) and is retrained."""


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
                  digest: str) -> TrainedRun:
    model = _build(config, int(payload["num_classes"]))
    model.load_state_dict(payload["model"])
    model = prepare_model(model, device).eval()
    return TrainedRun(config, key, model, list(payload["history"]), True,
                      float(payload.get("wall_time_s", 0.0)), path,
                      dict(payload.get("info", {})), digest)


class DamagedShippedCheckpointError(CorruptCheckpointError):
    """A checkpoint shipped with the package (``lib/checkpoints``) or imported
    is damaged; it is never retrained silently (issue 15, item 5)."""


def _shipped_error(path: Path, error: Exception) -> DamagedShippedCheckpointError:
    try:
        command = read_manifest(path).get("command") or "make pretrain PRESET=<preset>"
    except CorruptCheckpointError:
        command = "make pretrain PRESET=<preset>"
    folder = path.parent.relative_to(REPO) if path.is_relative_to(REPO) else path.parent
    return DamagedShippedCheckpointError(
        f"the shipped checkpoint {path} is damaged ({getattr(error, 'reason', error)}). "
        f"Restore it: "
        f"`git checkout -- {folder}` (the copy in git), re-import it if it is an imported file "
        f"(`python -m lib.weights import FILE --as NAME`), or retrain and re-ship it with "
        f"`{command}`. Nothing was retrained; `train_or_load(..., force=True)` retrains "
        f"this run into the run cache without the shipped copy.")


def _refuse_damaged_import(path: Path, error: Exception) -> None:
    """A damaged run imported from a released file (``lib.weights``) is never
    retrained in its place: it fails, saying how to import it again."""
    try:
        manifest = read_manifest(path)
    except CorruptCheckpointError:
        return
    name = manifest.get("released")
    if name:
        raise DamagedShippedCheckpointError(
            f"the imported checkpoint {path} ({name}) is damaged ({error}). Re-import it: "
            f"`python -m lib.weights import FILE --as {name}` (the file is published at "
            f"{manifest.get('published_at', 'see lib.weights')}). Nothing was retrained.")


def _load(path: Path, key: str, config: RunConfig, device) -> TrainedRun:
    """The verified checkpoint at ``path`` (raises what :func:`load_verified_digest` raises)."""
    payload, digest = load_verified_digest(path, key)
    try:
        return _from_payload(config, key, payload, path, device, digest)
    except (RuntimeError, KeyError) as error:  # a payload of the wrong shape
        raise CorruptCheckpointError(f"{path}: not a model of this run ({error})") from error


def _from_cache(config, key, final_path, device, progress, *, discard: bool):
    """The run from the cache's ``model.pt``, or ``None`` when it is absent or
    unusable; with ``discard`` (the caller holds the key's lock) an unusable
    file is reported and removed, to be retrained."""
    try:
        return _load(final_path, key, config, device)
    except FileNotFoundError:
        return None
    except UnsafeCheckpointError as error:  # never deleted silently: the user decides (issue 28)
        _refuse_damaged_import(final_path, error)  # an imported one: re-import it, not force
        raise
    except CorruptCheckpointError as error:
        if discard:
            _refuse_damaged_import(final_path, error)
            progress.message(f"discarding unusable checkpoint ({error}); retraining")
            warnings.warn(f"run {key}: {error}; it will be retrained",
                          DiscardedCheckpointWarning, stacklevel=4)
            remove_checkpoint(final_path)
        return None


def _from_shipped(config, key, final_path, device, *, seed_cache: bool):
    """The shipped copy of the run, copied into the cache when ``seed_cache``;
    ``None`` when none is shipped; a damaged one fails (issue 15, item 5)."""
    shipped = SHIPPED_DIR / f"{key}.pt"
    if not shipped.exists():
        return None
    try:
        run = _load(shipped, key, config, device)
    except CorruptCheckpointError as error:
        raise _shipped_error(shipped, error) from error
    if seed_cache:
        copy_verified(shipped, final_path)
        run.path = final_path
    return run


def _not_trainable_here(error: OSError, key: str, title: str, run_dir: Path,
                        force: bool) -> OSError:
    """A cache that cannot be written (read-only, or another user's folder)
    and lacks the run, or ``force``: which run, where, and what to do."""
    if error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
        return error
    found = setting_of(run_dir)
    cache = f"the run cache ({found[0]}={found[1]})" if found else f"the run cache {run_dir.parent}"
    what = (f"run {title} ({key}) cannot be retrained (force=True) in {cache}" if force else
            f"run {title} ({key}) is not in {cache}")
    advice = f" {SHARED_CACHE_ADVICE}." if error.errno != errno.EROFS else ""
    return StorageError(error.errno, (
        f"{what}, and it cannot be trained there: {reason(error.errno)} (cannot create "
        f"{error.filename or run_dir}). A cache that cannot be written serves only the runs it "
        f"holds: point RUNS_DIR at a cache that holds this run, or at a writable folder to "
        f"train it.{advice}"), run_dir)


def train_or_load(config: RunConfig, *, root=None, device="auto", runs_dir=None,
                  compile: bool = False, verbose: bool = True, force: bool = False) -> TrainedRun:
    """Return the trained model for ``config``, training it only if no valid
    checkpoint exists (its parent ``config.init`` likewise, recursively).

    ``root`` is the data root; ``force=True`` retrains even when cached (or
    shipped). Safe for many workers on one cache (issue 16, item 3): a cached
    run is read without any lock (a read-only cache serves); training holds
    the key's :class:`~lib.training.locks.RunLock`, so a second worker waits,
    then loads what the first trained.
    """
    device = resolve_device(device) if not isinstance(device, torch.device) else device
    key = config.key()
    run_dir = Path(runs_dir or default_runs_dir()) / key
    final_path = run_dir / "model.pt"
    title = config.label or key
    writer = distributed.is_writer()  # rank 0 of a data-parallel run decides and writes
    progress = RunProgress(title, config.recipe.epochs, 0,
                           run_dir / "train.log" if writer else None, verbose and writer)

    if not force:
        run = _from_cache(config, key, final_path, device, progress, discard=False) \
            if writer else None
        if distributed.from_rank0(run is not None):
            return run or _load(final_path, key, config, device)
    if config.released:  # a released network is imported (lib.weights), never trained here
        raise FileNotFoundError(
            f"the released model {config.released!r} is not imported: no {final_path}. Import "
            f"it: python -m lib.weights import FILE --as {config.released} (book/reproducing.md "
            "says where each released file is published)")
    distributed.check_world(config)  # not cached: it trains here, in a group of its size
    parent = None
    if config.init is not None:
        parent = train_or_load(config.init, root=root, device=device, runs_dir=runs_dir,
                               compile=compile, verbose=verbose)
    lock = RunLock(run_dir / LOCK_NAME, on_wait=lambda owner: progress.message(
        f"waiting: another worker is training this run ({owner.get('host', '?')}, "
        f"pid {owner.get('pid', '?')})"))
    try:
        if writer:
            lock.acquire()
    except OSError as error:  # a read-only cache: the shipped copy as it is, if there is one
        run = None
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS) and not force:
            run = _from_shipped(config, key, final_path, device, seed_cache=False)
        if run is None:
            explained = _not_trainable_here(error, key, title, run_dir, force)
            if explained is error:
                raise
            raise explained from error
        return run
    try:
        run = None
        if writer and force:
            remove_checkpoint(final_path)
            remove_checkpoint(run_dir / "state.pt")
        elif writer:
            run = (_from_cache(config, key, final_path, device, progress, discard=True)
                   or _from_shipped(config, key, final_path, device, seed_cache=True))
        if distributed.from_rank0(run is not None):
            return run or _load(final_path, key, config, device)
        return _train(config, key, run_dir, parent, root, device, compile, progress)
    finally:
        lock.release()


def _train(config, key, run_dir, parent, root, device, compile, progress) -> TrainedRun:
    recipe = config.recipe
    train_data, _ = config.data.build(root)
    num_classes = train_data.num_classes
    train_data = distributed.shard(train_data, config.seed)  # all of it for one process
    rank, writer = distributed.context()[0], distributed.is_writer()
    torch.manual_seed(config.seed)
    model = _build(config, parent.model.num_classes if parent else num_classes)
    if parent is not None:
        model.load_state_dict({k: v.cpu() for k, v in parent.model.state_dict().items()})
        model.replace_classifier(num_classes)
        model.set_dropout(recipe.dropout)
    model = prepare_model(model, device)
    runnable = maybe_compile(distributed.wrap(model), compile and device.type == "cuda")
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
        torch.set_rng_state(state["rng_by_rank"][rank] if "rng_by_rank" in state
                            else state["rng"])
        start_epoch, history = int(state["epoch"]), list(state["history"])
        elapsed = float(state["wall_time_s"])
        progress.message(f"resuming after epoch {start_epoch}/{recipe.epochs}")
    except FileNotFoundError:
        pass
    except UnsafeCheckpointError:
        raise
    except (CorruptCheckpointError, RuntimeError, EOFError, KeyError) as error:
        progress.message(f"discarding unusable resume state ({error}); starting over")
        distributed.barrier()  # every rank has read it before it goes
        if writer:
            remove_checkpoint(state_path)

    if writer:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(run_dir / "config.json", {"key": key, "label": config.label,
                                                    "config": config.to_dict(),
                                                    "world_size": distributed.context()[1]})
    for epoch in range(start_epoch, recipe.epochs):
        began = time.perf_counter()
        loader.set_epoch(epoch)
        progress.start_epoch(epoch + 1)
        loss, acc, ips, seconds = train_one_epoch(
            runnable, loader, optimizer, scheduler, recipe, device, config.objective,
            dict(config.objective_params), on_batch=progress.on_batch,
            cpu_autocast=config.cpu_autocast)
        record = EpochRecord(epoch + 1, loss, acc, optimizer.param_groups[0]["lr"], ips, seconds)
        if eval_data is not None and writer:
            for name, value in tracked_metrics(predict_logits(model, eval_data, device),
                                               eval_data.labels).items():
                setattr(record, name, value)
        history.append(record.to_dict())
        elapsed += time.perf_counter() - began
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state(),
                 "epoch": epoch + 1, "history": history, "wall_time_s": elapsed}
        if distributed.context()[1] > 1:  # each rank resumes its own dropout/augment RNG
            state["rng_by_rank"] = distributed.gathered(torch.get_rng_state())
        if writer and epoch + 1 < recipe.epochs:  # after the last epoch, model.pt follows
            save_verified(state_path, state, key)
        progress.end_epoch(record)  # logged once saved: a logged epoch is never trained again
        distributed.barrier()

    info = {"device": describe_device(device), "commit": git_commit(), "date": utc_now(),
            "train_size": len(train_data), "label": config.label,
            "precision": training_precision(device, config.cpu_autocast),
            "tf32": training_tf32(device)}
    payload = {"model": {k: v.cpu() for k, v in model.state_dict().items()},
               "num_classes": num_classes, "history": history, "wall_time_s": elapsed,
               "info": info}
    if distributed.context()[1] > 1:
        info["world_size"] = distributed.context()[1]
    digest = save_verified(run_dir / "model.pt", payload, key, extra=info) if writer else ""
    if writer:
        remove_checkpoint(run_dir / "state.pt")
    digest = distributed.from_rank0(digest)
    model.eval()
    return TrainedRun(config, key, model, history, False, elapsed, run_dir / "model.pt", info,
                      digest)
