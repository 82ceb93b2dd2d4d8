"""Atomic file writes: a temporary file in the target's folder, flushed to
disk, then ``os.replace``-d into place, so a killed process never leaves a
half-written file under the real name (checkpoints, caches, result stores).
Files get the mode an ordinary ``open`` would give them (0o666 less the
umask), so a group can share a cache (issue 16, item 3)."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from lib.storage import explained


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename); a
    full disk, a read-only or a forbidden folder raises
    :class:`lib.storage.StorageError` naming ``path``."""
    path = Path(path)
    with explained(path, "write"):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o666 & ~_umask())  # mkstemp creates owner-only files
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def atomic_write_json(path: Path, obj) -> None:
    """``obj`` as indented, key-sorted JSON, written atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def atomic_write_npz(path: Path, **arrays) -> None:
    """``np.savez(path, **arrays)``, written atomically (read back with
    ``allow_pickle=False``)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())
