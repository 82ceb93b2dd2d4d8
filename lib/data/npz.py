"""Reading ``.npz`` data files (the Downsampled ImageNet batches, the dataset
caches) without pickles, naming the file when one cannot be read (issue 28,
item 3).

``np.load(path, allow_pickle=False)`` never unpickles, but its refusal of an
object array says neither which file nor what to do, and a damaged archive
fails with a bare ``BadZipFile``. :func:`read_npz` reads the named arrays
into memory and turns those failures into
:class:`~lib.data.errors.UnsafeDataFileError` (object arrays) or
:class:`~lib.data.errors.DataFileError` (damaged, or an array missing), each
naming the file, its folder's setting (``DATA_ROOT``, ``CACHE_DIR``) and what
to do; a full disk or a permission problem is a
:class:`lib.storage.StorageError`.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from lib.data.errors import DataFileError, UnsafeDataFileError
from lib.storage import explained, where


def read_npz(path, names: Iterable[str], todo: str = "") -> dict[str, np.ndarray]:
    """``{name: array}`` for each of ``names`` in the ``.npz`` file ``path``,
    read with ``allow_pickle=False``. ``todo``, a sentence (e.g. "Delete it:
    it is regenerated.", or where to download the file), ends the message of
    a file that cannot be read."""
    path = Path(path)
    todo = f" {todo}" if todo else " Replace it with the published file."
    arrays, name = {}, None
    try:
        with explained(path, "read"), np.load(path, allow_pickle=False) as archive:
            for name in names:
                arrays[name] = archive[name]
    except ValueError as error:
        if "allow_pickle" not in str(error):
            raise DataFileError(f"{path}{where(path)} is damaged: array {name!r} cannot be "
                                f"read ({error}).{todo}") from error
        if name is None and not _starts_like_a_pickle(path):  # numpy says "pickle" for any
            raise DataFileError(f"{path}{where(path)} is damaged: neither an .npz archive "
                                f"nor an array file.{todo}") from None  # unknown bytes
        what = (f"its array {name!r} is an object array (pickled Python objects)"
                if name is not None else "it is not an .npz archive but a pickle")
        raise UnsafeDataFileError(
            f"{path}{where(path)} was not loaded: {what}, which would run code if "
            f"unpickled; a data file holds only numbers and text. Nothing of it was run."
            f"{todo}") from None
    except KeyError:
        raise DataFileError(f"{path}{where(path)} has no array {name!r} (it holds "
                            f"{_names(path)}): not a file of this format.{todo}") from None
    except (AttributeError, TypeError):  # a lone .npy array, not an archive of named arrays
        raise DataFileError(f"{path}{where(path)} is a single .npy array, not an .npz "
                            f"archive of named arrays.{todo}") from None
    except (zipfile.BadZipFile, EOFError) as error:
        raise DataFileError(f"{path}{where(path)} is damaged: not a readable .npz archive "
                            f"({error}).{todo}") from error
    return arrays


def _starts_like_a_pickle(path: Path) -> bool:
    """Whether ``path`` begins with a pickle's protocol opcode (``0x80``)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(1) == b"\x80"
    except OSError:
        return False


def _names(path: Path) -> list[str]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return sorted(archive.files)
    except Exception:  # noqa: BLE001 - only for the message
        return []
