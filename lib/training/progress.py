"""Progress reporting: a tqdm bar in a terminal, plain lines elsewhere, and a
log file per run. Progress never goes onto a book page: inside a notebook
kernel the lines go to the file named by ``$PROGRESS_LOG`` (``make book``
streams it to the terminal), else to ``<runs dir>/progress.log``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tqdm import tqdm

from lib.paths import default_runs_dir


def _in_kernel() -> bool:
    """Whether this process is a notebook kernel (not merely one that imported
    ipykernel, as pytest does through nbval)."""
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None) is not None


def console(line: str) -> None:
    """One progress line for the person running the build, never for the page."""
    target = os.environ.get("PROGRESS_LOG")
    if target is None and _in_kernel():
        target = str(default_runs_dir() / "progress.log")
    if target is None:
        print(line, flush=True)
        return
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    with open(target, "a") as f:
        f.write(line + "\n")


class RunProgress:
    """Reports one run's epochs to the screen and appends them to ``log_path``."""

    def __init__(self, title: str, epochs: int, batches_per_epoch: int,
                 log_path: Path | None = None, enabled: bool = True):
        self.title, self.epochs, self.batches = title, epochs, batches_per_epoch
        self.log_path = Path(log_path) if log_path else None
        self.enabled = enabled
        self.interactive = enabled and sys.stderr.isatty()
        self._bar = None

    def log(self, line: str) -> None:
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "a") as f:
                f.write(line + "\n")

    def start_epoch(self, epoch: int) -> None:
        if self.interactive:
            self._bar = tqdm(total=self.batches, desc=f"{self.title} {epoch}/{self.epochs}",
                             leave=False, file=sys.stderr)

    def on_batch(self, index: int, seen: int, loss, correct=None) -> None:
        """After each batch: ``loss`` of the batch, ``correct`` the running count
        of correct predictions (tensors; read only when a bar is shown, since
        reading them waits for the device)."""
        if self._bar is not None:
            self._bar.update(1)
            postfix = {"loss": f"{float(loss):.3f}"}
            if correct is not None:
                postfix["acc"] = f"{100 * float(correct) / max(seen, 1):.1f}%"
            elapsed = self._bar.format_dict.get("elapsed") or 0.0
            postfix["img/s"] = f"{seen / elapsed:.0f}" if elapsed > 0 else "-"
            self._bar.set_postfix(postfix)

    def end_epoch(self, record) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        line = (f"{self.title} epoch {record.epoch}/{self.epochs} loss {record.loss:.4f} "
                f"acc {100 * record.accuracy:.2f}% lr {record.lr:.2e} "
                f"{record.images_per_s:.0f} img/s")
        if record.test_error is not None:
            line += f" test err {100 * record.test_error:.2f}%"
        self.log(line)
        if self.enabled:
            console(line)

    def message(self, text: str) -> None:
        self.log(text)
        if self.enabled:
            console(f"{self.title}: {text}")


class SweepProgress:
    """Counts a sweep's runs: done, cached, left."""

    def __init__(self, total: int, title: str = "sweep", enabled: bool = True):
        self.total, self.title, self.enabled = total, title, enabled
        self.trained = self.cached = 0

    def update(self, from_cache: bool, label: str = "") -> None:
        if from_cache:
            self.cached += 1
        else:
            self.trained += 1
        done = self.trained + self.cached
        if self.enabled:
            console(f"[{self.title}] {done}/{self.total} done ({self.cached} from cache, "
                    f"{self.trained} trained, {self.total - done} left) {label}".rstrip())
