"""Atomic, verified checkpoint files.

Every file is written atomically (:mod:`lib.atomic_io`), so a killed run
never leaves a half-written file under the real name. Each ``X.pt`` has a
``X.pt.json`` manifest holding its sha256 and the run key; :func:`load_verified`
refuses a file whose hash or key does not match (a truncated or foreign file)
and loads with ``weights_only=True``: a file that holds more than tensors and
plain containers (a pickle that would run code) is refused with
:class:`UnsafeCheckpointError`, naming the file and how to recover, and
nothing of it runs (issue 28, item 1).

The two files are never out of step for a reader, even while a writer
replaces them (issue 16, item 3): a reader reads the checkpoint's bytes first,
then the manifest; a writer that replaces an existing checkpoint first
publishes a manifest naming the new sha256 with the old ones in
``previous``, then replaces the checkpoint, then the manifest again (the old
sha256s kept in ``previous``). Whatever bytes a reader got, the manifest it
reads afterwards names them.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import re
from pathlib import Path

import torch

from lib.atomic_io import atomic_write_bytes, atomic_write_json
from lib.storage import StorageError, explained


class CorruptCheckpointError(RuntimeError):
    """A checkpoint is truncated, altered, or belongs to another run."""


class UnsafeCheckpointError(CorruptCheckpointError):
    """A checkpoint is not a plain weights file: unpickling it would build
    objects other than tensors and plain containers (run code). It was not
    loaded, and is never discarded silently: the run cache fails on it.
    ``reason`` is the message without the recovery of a run cache's file."""

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason or message


def _unsafe(path: Path, error: pickle.UnpicklingError) -> UnsafeCheckpointError:
    """The project's words for torch's weights-only refusal of ``path`` (whose
    own message suggests loading the file unsafely; it is not repeated)."""
    text = str(error)
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        detail = f"it asks for the Python object {found.group(1)}, which no weights file holds"
    else:
        operand = re.search(r"(Unsupported operand \d+)", text)
        detail = ("it holds pickle instructions a weights file never uses"
                  + (f" ({operand.group(1)})" if operand else ""))
    reason = (f"{path} was not loaded: it is not a plain weights file ({detail}). Nothing "
              f"of it was run.")
    return UnsafeCheckpointError(
        f"{reason} To recover, delete the run's folder ({path.parent}) and build again, which "
        f"retrains the run, or retrain it in place with `train_or_load(config, force=True)`.",
        reason)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_path(path: Path) -> Path:
    return Path(str(path) + ".json")


PREVIOUS_KEPT = 4  # sha256s of replaced versions a manifest still accepts


def _previous(path: Path, key: str) -> list[str]:
    """The sha256s the current manifest of ``path`` accepts (same run key only)."""
    try:
        current = json.loads(manifest_path(path).read_text())
    except (OSError, ValueError):
        return []
    if current.get("key") != key or not path.exists():
        return []
    return ([current.get("sha256")] + list(current.get("previous", [])))[:PREVIOUS_KEPT]


def save_verified(path: Path, payload: dict, key: str, extra: dict | None = None) -> str:
    """Save ``payload`` with ``torch.save`` atomically with its manifest (in
    the order of the module docstring); returns the sha256."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return save_verified_bytes(path, buffer.getvalue(), key, extra)


def save_verified_bytes(path: Path, data: bytes, key: str, extra: dict | None = None) -> str:
    """Write a checkpoint's bytes and manifest, readable at every instant."""
    path = Path(path)
    digest = _sha256(data)
    manifest = {**(extra or {}), "sha256": digest, "key": key, "bytes": len(data)}
    previous = [d for d in _previous(path, key) if d != digest]
    if previous:
        manifest["previous"] = previous
        atomic_write_json(manifest_path(path), manifest)
    atomic_write_bytes(path, data)
    atomic_write_json(manifest_path(path), manifest)
    return digest


def read_manifest(path: Path) -> dict:
    try:
        with explained(manifest_path(path), "read"):
            return json.loads(manifest_path(path).read_text())
    except StorageError:  # a permission problem is not a damaged file
        raise
    except (OSError, ValueError) as error:
        raise CorruptCheckpointError(f"{path}: missing or unreadable manifest ({error})") from error


def load_verified(path: Path, key: str | None = None, map_location="cpu") -> dict:
    """Load ``path`` after checking its sha256 (and run ``key``) against its manifest."""
    return load_verified_digest(path, key, map_location)[0]


def load_verified_digest(path: Path, key: str | None = None,
                         map_location="cpu") -> tuple[dict, str]:
    """:func:`load_verified` and the sha256 of the bytes it loaded."""
    path = Path(path)
    try:
        with explained(path, "read"):
            data = path.read_bytes()  # before the manifest: see the module docstring
    except FileNotFoundError:
        raise FileNotFoundError(f"no checkpoint at {path}") from None
    manifest = read_manifest(path)
    digest = _sha256(data)
    if digest not in [manifest.get("sha256"), *manifest.get("previous", [])]:
        raise CorruptCheckpointError(
            f"{path}: sha256 does not match its manifest (truncated or altered file)")
    if key is not None and manifest.get("key") != key:
        raise CorruptCheckpointError(
            f"{path}: belongs to run {manifest.get('key')!r}, expected {key!r}")
    try:
        payload = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:  # torch's text suggests weights_only=False: not shown
        raise _unsafe(path, error) from None
    except (RuntimeError, EOFError, ValueError) as error:
        raise CorruptCheckpointError(f"{path}: not a loadable checkpoint ({error})") from error
    return payload, digest


def copy_verified(source: Path, target: Path) -> str:
    """Copy a verified checkpoint and its manifest (e.g. a shipped one into the
    run cache), readable at every instant; returns the sha256."""
    source = Path(source)
    with explained(source, "read"):
        data = source.read_bytes()
    manifest = read_manifest(source)
    if _sha256(data) != manifest.get("sha256"):
        raise CorruptCheckpointError(
            f"{source}: sha256 does not match its manifest (truncated or altered file)")
    extra = {k: v for k, v in manifest.items() if k not in ("sha256", "key", "bytes", "previous")}
    return save_verified_bytes(target, data, manifest.get("key"), extra)


def remove_checkpoint(path: Path) -> None:
    Path(path).unlink(missing_ok=True)
    manifest_path(path).unlink(missing_ok=True)
