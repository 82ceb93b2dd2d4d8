"""Storage errors in words: which file, which setting its folder came from,
and what to do (issue 28, item 3).

The project keeps its files in four folders, each chosen by an environment
variable (and ``make`` variable) of the same name:

===============  =========================================  ==========================
setting          folder                                     declared by
===============  =========================================  ==========================
``RUNS_DIR``     the run cache (checkpoints, memos, locks)  :mod:`lib.paths`
``RESULTS_DIR``  the result store (``<preset>.csv``)        :mod:`lib.results`
``CACHE_DIR``    generated and decoded datasets             :mod:`lib.data.cache`
``DATA_ROOT``    the paper's datasets (only read)           :mod:`lib.data.registry`
===============  =========================================  ==========================

Each module that owns a folder declares it here (:func:`declare`), so this
base module names the four without importing them. The few places that read
or write these files (atomic writes, checkpoint reads, the result store's
lock and reads, run locks, npz data files) run under :func:`explained`: an
``OSError`` a user can act on becomes a :class:`StorageError` that names the
file, the setting whose folder holds it and what to do. Those are a full disk
or quota (``ENOSPC``, ``EDQUOT``), a read-only file system (``EROFS``) and a
permission denied (``EACCES``, ``EPERM``, with the group-shared cache's
``umask 002``). Any other ``OSError`` passes unchanged: a missing file is
still a ``FileNotFoundError``, which callers read as "not there yet".
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Callable, Iterator
from pathlib import Path

# setting -> (its folder now, what the folder holds)
_SETTINGS: dict[str, tuple[Callable[[], Path], str]] = {}

_FULL = (errno.ENOSPC, errno.EDQUOT)
_READ_ONLY = (errno.EROFS,)
_DENIED = (errno.EACCES, errno.EPERM)
EXPLAINED_ERRNOS = (*_FULL, *_READ_ONLY, *_DENIED)

SHARED_CACHE_ADVICE = (
    "A folder shared by a group (README, 'Run it on a cluster') needs every user who writes "
    "to it to work under `umask 002`, so that what they write stays group-writable, and the "
    "folder group-owned with the setgid bit: `chgrp -R GROUP DIR && chmod -R g+rwX DIR && "
    "find DIR -type d -exec chmod g+s {} +` (this also repairs files written under another "
    "umask)")


class StorageError(OSError):
    """An ``OSError`` on one of the project's files, in words: the file, the
    setting its folder came from, what to do. ``errno`` and ``filename`` are
    the original error's (so ``error.errno == errno.ENOSPC`` still works)."""

    def __init__(self, code: int | None, message: str, filename=None):
        super().__init__(code, message, None if filename is None else str(filename))

    def __str__(self) -> str:
        return self.strerror


def declare(setting: str, folder: Callable[[], Path], holds: str) -> None:
    """Declare that ``folder()`` (the folder now, from the environment) is
    the folder of the environment ``setting``, holding ``holds``."""
    _SETTINGS[setting] = (folder, holds)


def setting_of(path) -> tuple[str, Path, str] | None:
    """``(setting, folder, what it holds)`` of the declared folder holding
    ``path`` (the innermost one), or ``None`` when none does (a folder given
    as an argument rather than by its setting)."""
    path = _absolute(path)
    found = None
    for setting, (folder_of, holds) in _SETTINGS.items():
        try:
            folder = _absolute(folder_of())
        except Exception:  # noqa: BLE001 - a broken setting must not hide the real error
            continue
        if path.is_relative_to(folder) and (found is None or
                                            len(folder.parts) > len(found[1].parts)):
            found = (setting, folder, holds)
    return found


def _absolute(path) -> Path:
    return Path(path).expanduser().resolve()


def where(path) -> str:
    """``"in the run cache (RUNS_DIR=/x/runs)"``, or ``""`` outside the
    declared folders."""
    found = setting_of(path)
    return f" in {found[2]} ({found[0]}={found[1]})" if found else ""


def reason(code: int | None) -> str:
    """What an explained ``errno`` means, in words."""
    if code == errno.ENOSPC:
        return "no space left on the device"
    if code == errno.EDQUOT:
        return "disk quota exceeded"
    if code in _READ_ONLY:
        return "the file system is read-only"
    return "permission denied"


def describe(error: OSError, path, action: str = "write") -> StorageError | None:
    """``error`` (raised on ``action`` of ``path``) as a :class:`StorageError`
    in words, or ``None`` when it is not one a user can act on."""
    code = getattr(error, "errno", None)
    if code not in EXPLAINED_ERRNOS:
        return None
    found = setting_of(path)
    setting = found[0] if found else None
    head = f"cannot {action} {path}{where(path)}"
    what = reason(code)
    if code in _FULL:
        todo = ("Free space on the disk holding it"
                + (f", or set {setting} to a folder on a disk with room" if setting else "")
                + "; no file was left half-written, so the build can simply be run again")
    elif code in _READ_ONLY:
        todo = (f"Set {setting} to a writable folder" if setting else
                "Use a writable folder")
    else:
        todo = (SHARED_CACHE_ADVICE + ". A folder of your own: "
                + (f"set {setting} to a folder you can write" if setting and action != "read"
                   else "fix its permissions"))
    detail = f" ({error.filename})" if error.filename and str(error.filename) != str(path) \
        else ""
    return StorageError(code, f"{head}: {what}{detail} [Errno {code}]. {todo}.", path)


@contextlib.contextmanager
def explained(path, action: str = "write") -> Iterator[None]:
    """Run the block; an ``OSError`` a user can act on (see the module
    docstring) raised in it becomes a :class:`StorageError` about ``path``."""
    try:
        yield
    except StorageError:
        raise
    except OSError as error:
        described = describe(error, path, action)
        if described is None:
            raise
        raise described from error
