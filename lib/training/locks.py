"""Per-run-key locks for a run cache shared by many workers (issue 16, item 3).

A lock is a file created with ``O_CREAT | O_EXCL`` (atomic on local file
systems and on NFS v3 and later), holding its owner (host, pid, a random
token). While held, a daemon thread refreshes its modification time every
``heartbeat_s``. A lock whose owner is gone is *stale* and is taken over:

* on the owner's host, at once, when its process no longer exists;
* anywhere, when it has not been refreshed for ``stale_after_s``
  (``$RUN_LOCK_STALE_S``, default 120 s): a killed node, a frozen worker.

Takeover renames the stale file away, then checks that what it renamed is the
stale lock it inspected (another worker may have replaced it meanwhile; then
that lock is put back), so two workers never both hold a key.

A lock that cannot be created or taken over (a read-only cache, another
user's folder or stale lock) raises :class:`lib.storage.StorageError`, naming
the lock, its setting, and the group-shared cache's ``umask 002`` (issue 28).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
import warnings
from pathlib import Path

from lib.storage import explained

STALE_AFTER_S = float(os.environ.get("RUN_LOCK_STALE_S", 120))


class LockLostWarning(RuntimeWarning):
    """A held lock was taken over by another worker (this one stalled past the stale limit)."""


class LockTimeout(TimeoutError):
    """A lock was not acquired within the time asked for."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


class RunLock:
    """An exclusive lock on ``path`` (e.g. ``<runs dir>/<key>/.lock``).

    ``with RunLock(path): ...`` waits until it holds the lock; ``acquire(
    blocking=False)`` returns ``False`` at once when another live worker holds
    it. ``on_wait(owner)`` is called once when the lock is found held."""

    def __init__(self, path, *, stale_after_s: float | None = None,
                 heartbeat_s: float | None = None, poll_s: float = 0.5, on_wait=None):
        self.path = Path(path)
        self.stale_after_s = STALE_AFTER_S if stale_after_s is None else float(stale_after_s)
        self.heartbeat_s = (heartbeat_s if heartbeat_s is not None
                            else max(self.stale_after_s / 4, 0.05))
        self.poll_s, self.on_wait = poll_s, on_wait
        self.token = uuid.uuid4().hex
        self.owner = {"host": socket.gethostname(), "pid": os.getpid(), "token": self.token}
        self.held = self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- inspection ------------------------------------------------------------------------
    def read_owner(self, path: Path | None = None) -> dict | None:
        """The owner recorded in the lock file, ``None`` when there is none;
        ``{}`` for a file being written or unreadable."""
        try:
            return json.loads(Path(path or self.path).read_text() or "{}")
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}

    def is_stale(self, owner: dict, mtime: float) -> bool:
        if time.time() - mtime > self.stale_after_s:
            return True
        return (owner.get("host") == self.owner["host"] and isinstance(owner.get("pid"), int)
                and not _pid_alive(owner["pid"]))

    # -- acquire / release -----------------------------------------------------------------
    def _create(self) -> bool:
        with explained(self.path, "create the lock"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            except FileExistsError:
                return False
            try:
                with os.fdopen(fd, "w") as f:
                    json.dump({**self.owner, "since": time.time()}, f)
                    f.flush()
                    os.fsync(f.fileno())
            except BaseException:  # a full disk: leave no lock that nobody holds
                self.path.unlink(missing_ok=True)
                raise
        return True

    def _take_over(self, owner: dict) -> None:
        """Move a stale lock away; put it back if it was not the one inspected."""
        aside = self.path.with_name(f"{self.path.name}.stale.{self.token}")
        try:
            with explained(self.path, "take over the stale lock"):
                os.rename(self.path, aside)
        except FileNotFoundError:
            return  # another worker took it over first
        if self.read_owner(aside) != owner:  # a fresh lock replaced the stale one meanwhile
            try:
                os.link(aside, self.path)
            except FileExistsError:
                pass
        aside.unlink(missing_ok=True)

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        began, reported = time.monotonic(), False
        while True:
            if self._create():
                self.held, self.lost = True, False
                self._start_heartbeat()
                return True
            owner = self.read_owner()
            try:
                mtime = self.path.stat().st_mtime
            except FileNotFoundError:
                continue  # released meanwhile: try again at once
            if owner is not None and self.is_stale(owner, mtime):
                self._take_over(owner)
                continue
            if not blocking:
                return False
            if timeout is not None and time.monotonic() - began > timeout:
                raise LockTimeout(f"{self.path}: still held by {owner} after {timeout:.0f} s")
            if not reported and self.on_wait is not None:
                self.on_wait(owner or {})
                reported = True
            time.sleep(self.poll_s)

    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name=f"lock {self.path}",
                                        daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            if (self.read_owner() or {}).get("token") != self.token:
                self.lost = True
                warnings.warn(f"{self.path}: this worker's lock was taken over by another "
                              "(it stalled past the stale limit)", LockLostWarning)
                return
            try:
                os.utime(self.path)
            except OSError:
                pass

    def release(self) -> None:
        if not self.held:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.held = False
        if (self.read_owner() or {}).get("token") == self.token:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
