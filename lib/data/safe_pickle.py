"""Reading the pickled dataset files without letting them run code (issue 28,
item 2).

The CIFAR-10/100 python batches and the pickled Downsampled ImageNet batches
are Python pickles, and a pickle can name any importable callable, which
unpickling then calls: a tampered ``data_batch_1`` could run anything. These
files only ever hold dicts, lists, strings, bytes, numbers and numpy arrays,
so :func:`read_data_pickle` unpickles with :class:`DataUnpickler`, whose
``find_class`` hands out only the few globals those need (numpy's array,
dtype and scalar reconstructors; ``_codecs.encode`` for the bytes of
protocol-2 pickles, latin-1 only) and refuses every other, before it is
called: the way ``torch.load(weights_only=True)`` guards checkpoints. A
refused file raises :class:`~lib.data.errors.UnsafeDataFileError` naming the
file and what it asked for; a damaged one
:class:`~lib.data.errors.DataFileError`.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from lib.data.errors import DataFileError, UnsafeDataFileError
from lib.storage import explained, where

try:  # numpy >= 2 (numpy.core is its deprecated alias)
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for ``bytes`` (latin-1 only)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(
            f"_codecs.encode called with {type(text).__name__} and {encoding!r}, "
            "not as a pickle of bytes does")
    return text.encode("latin1")


def _allowed() -> dict[tuple[str, str], object]:
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
               ("_codecs", "encode"): _latin1_encode,
               ("builtins", "bytearray"): bytearray, ("__builtin__", "bytearray"): bytearray,
               ("builtins", "complex"): complex, ("__builtin__", "complex"): complex}
    for package in ("numpy.core", "numpy._core"):  # the name a pickle was written with
        allowed[(f"{package}.multiarray", "_reconstruct")] = _multiarray._reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = _multiarray.scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = _numeric._frombuffer
    return allowed


ALLOWED_GLOBALS = _allowed()


class _Refused(pickle.UnpicklingError):
    """A global outside :data:`ALLOWED_GLOBALS` (raised before it is imported)."""


class DataUnpickler(pickle.Unpickler):
    """An unpickler that builds only dicts, lists, tuples, str, bytes,
    numbers and numpy arrays: every global a pickle asks for must be in
    :data:`ALLOWED_GLOBALS`; nothing else is imported or called."""

    def find_class(self, module: str, name: str):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise _Refused(f"it asks for the Python object {module}.{name}") from None

    def persistent_load(self, pid):
        raise _Refused("it asks for a persistent object")


def read_data_pickle(path, how_to_get: str = "") -> dict:
    """The dict pickled in the dataset file ``path`` (Python-2 pickles:
    ``encoding='latin1'``), read by :class:`DataUnpickler`. ``how_to_get``
    (the dataset's) ends the message of a refused or damaged file."""
    path = Path(path)
    with explained(path, "read"):
        file = open(path, "rb")
    replace = f" Replace it with the published file: {how_to_get}" if how_to_get else \
        " Replace it with the published file."
    try:
        with file:
            batch = DataUnpickler(file, encoding="latin1").load()
    except _Refused as error:
        raise UnsafeDataFileError(
            f"{path}{where(path)} was not loaded: {error}, which a dataset file never holds "
            f"(only dicts, lists, strings, bytes, numbers and numpy arrays). The file would "
            f"run code if unpickled; nothing of it was run.{replace}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError) as error:
        raise DataFileError(f"{path}{where(path)} is damaged: not a readable pickle "
                            f"({type(error).__name__}: {error}).{replace}") from error
    if not isinstance(batch, dict):
        raise DataFileError(f"{path}{where(path)} holds a {type(batch).__name__}, not the "
                            f"dict of a dataset batch.{replace}")
    return batch
