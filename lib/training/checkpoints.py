"""Atomic, verified checkpoint files.

Every file is written atomically (:mod:`lib.atomic_io`), so a killed run
never leaves a half-written file under the real name. Each ``X.pt`` has a ``X.pt.json`` manifest holding its
sha256 and the run key; :func:`load_verified` refuses a file whose hash or key
does not match (a truncated or foreign file) and loads with
``weights_only=True``.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import torch

from lib.atomic_io import atomic_write_bytes, atomic_write_json


class CorruptCheckpointError(RuntimeError):
    """A checkpoint is truncated, altered, or belongs to another run."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_path(path: Path) -> Path:
    return Path(str(path) + ".json")


def save_verified(path: Path, payload: dict, key: str, extra: dict | None = None) -> str:
    """Save ``payload`` with ``torch.save`` atomically, then its manifest; returns the sha256."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    digest = _sha256(data)
    atomic_write_bytes(path, data)
    atomic_write_json(manifest_path(path), {"sha256": digest, "key": key, "bytes": len(data),
                                            **(extra or {})})
    return digest


def read_manifest(path: Path) -> dict:
    try:
        return json.loads(manifest_path(path).read_text())
    except (OSError, ValueError) as error:
        raise CorruptCheckpointError(f"{path}: missing or unreadable manifest ({error})") from error


def load_verified(path: Path, key: str | None = None, map_location="cpu") -> dict:
    """Load ``path`` after checking its sha256 (and run ``key``) against its manifest."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    manifest = read_manifest(path)
    data = path.read_bytes()
    if _sha256(data) != manifest.get("sha256"):
        raise CorruptCheckpointError(
            f"{path}: sha256 does not match its manifest (truncated or altered file)")
    if key is not None and manifest.get("key") != key:
        raise CorruptCheckpointError(
            f"{path}: belongs to run {manifest.get('key')!r}, expected {key!r}")
    return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)


def remove_checkpoint(path: Path) -> None:
    Path(path).unlink(missing_ok=True)
    manifest_path(path).unlink(missing_ok=True)
