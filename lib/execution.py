"""How ``make book`` executes one section notebook (issue: one section
protocol, item 8): with papermill into a temporary file, moved into the
executed folder only on success, the kernel's training progress streamed to
the terminal (never onto the page).

    python -m lib.execution notebooks/01_label_corruption.ipynb book/executed -p preset quick

Where an unfinished execution is (README, issue 28): a notebook runs into
``<executed>/.partial/<name>``; a failed one (an error in a cell, or Ctrl-C)
is moved to ``<executed>/.failed/<name>`` and one line says so; a killed one
(``kill -9``, the OOM killer) stays in ``.partial/``, which the Makefile's loop
then says. The data root reaches the kernel as ``$DATA_ROOT``, never as an
injected parameter, so no page shows the builder's folders (issue 28, item 5).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path


class _Follow(threading.Thread):
    """Copies the lines appended to ``path`` to ``out`` while a notebook runs
    (``tail -F``), and the rest when stopped."""

    def __init__(self, path: Path, out):
        super().__init__(daemon=True)
        self.path, self.out, self._done = Path(path), out, threading.Event()

    def run(self) -> None:
        pending = ""
        with open(self.path) as f:
            while True:
                finished = self._done.is_set()  # read once more after the notebook ended
                pending += f.read()
                *lines, pending = pending.split("\n")
                for line in lines:
                    self.out.write(line + "\n")
                self.out.flush()
                if finished:
                    break
                self._done.wait(0.2)
        if pending:
            self.out.write(pending + "\n")
            self.out.flush()

    def stop(self) -> None:
        self._done.set()
        self.join()


def execute(notebook: Path, executed_dir: Path, parameters: dict, out=None) -> Path:
    """Execute ``notebook`` with papermill into a temporary file and move it to
    ``executed_dir/<name>`` only when every cell succeeded: a notebook that
    fails, is interrupted or killed leaves the last good one (and its page) in
    place; a failed execution is kept in ``executed_dir/.failed/`` to read.

    The kernel's training progress (``lib.training.progress``) goes to
    ``executed_dir/logs/<stem>.progress.log`` (``$PROGRESS_LOG``), which is
    copied to ``out`` (default: stdout) as it grows, so it reaches the
    terminal but never the page; the notebook's own printed output is
    streamed to ``out`` too. A failure writes one line to ``out``, the failing
    cell's ``Type: message`` (:func:`cell_error`), and its full traceback to
    ``executed_dir/logs/<stem>.error.log``; Ctrl-C likewise says in one line
    where the interrupted execution is. A ``data_root`` parameter is passed to
    the kernel as ``$DATA_ROOT`` (the notebooks' default ``data_root=None``
    reads it) rather than injected, so the page does not show the builder's
    absolute path. Returns the executed notebook's path."""
    import papermill

    notebook, executed_dir = Path(notebook), Path(executed_dir)
    out = out or sys.stdout
    final = executed_dir / notebook.name
    partial_dir, failed_dir, log_dir = (executed_dir / d for d in (".partial", ".failed", "logs"))
    for d in (partial_dir, log_dir):
        d.mkdir(parents=True, exist_ok=True)
    partial = partial_dir / notebook.name
    log = log_dir / f"{notebook.stem}.progress.log"
    log.write_text("")
    parameters = dict(parameters)
    environment = {"PROGRESS_LOG": str(log.resolve())}  # the kernel inherits these
    if "data_root" in parameters:
        environment["DATA_ROOT"] = str(parameters.pop("data_root") or "")
    previous = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    follow = _Follow(log, out)
    follow.start()
    error_log = log_dir / f"{notebook.stem}.error.log"
    error_log.unlink(missing_ok=True)
    try:
        papermill.execute_notebook(str(notebook), str(partial), parameters=parameters,
                                   progress_bar=False, stdout_file=out, stderr_file=out)
    except BaseException as error:
        interrupted = isinstance(error, KeyboardInterrupt)
        if interrupted:  # the cell's own interrupt, unretrieved, is not printed at exit
            logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        follow.stop()
        if partial.exists():
            failed_dir.mkdir(exist_ok=True)
            os.replace(partial, failed_dir / notebook.name)
        kept = f"the last good {final} is kept" if final.exists() else f"{final} is not written"
        error_log.write_text(f"{notebook} with parameters {parameters}\n{_traceback(error)}\n")
        what = "interrupted (Ctrl-C)" if interrupted else f"failed: {cell_error(error)}"
        out.write(f"!! {notebook.name} {what} (traceback in {error_log}; {kept}; the "
                  f"{'interrupted' if interrupted else 'failed'} execution is in "
                  f"{failed_dir / notebook.name})\n")
        out.flush()
        raise
    else:
        follow.stop()
        _fold_parameters(partial)
        os.replace(partial, final)  # same folder tree: an atomic rename
        (failed_dir / notebook.name).unlink(missing_ok=True)
        return final
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def cell_error(error: BaseException) -> str:
    """The failing cell's exception as ``Type: message`` (papermill's own
    traceback left out), or ``error``'s own type and message."""
    import papermill

    if isinstance(error, papermill.PapermillExecutionError):
        return f"{error.ename}: {error.evalue}"
    return f"{type(error).__name__}: {error}".rstrip(": ")


def _traceback(error: BaseException) -> str:
    """The full traceback: the failing cell's (papermill's text), else Python's."""
    import traceback

    import papermill

    if isinstance(error, papermill.PapermillExecutionError):
        return str(error)
    return "".join(traceback.format_exception(error))


def _fold_parameters(path: Path) -> None:
    """On the page: drop the notebook's default parameters cell (papermill's
    injected cell after it holds the values used) and collapse the injected
    one (``hide-input``), so the page opens with its prose, not with code."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        for marker, tag in (("parameters", "remove-cell"), ("injected-parameters", "hide-input")):
            if marker in tags and tag not in tags:
                tags.append(tag)
    nbformat.write(nb, str(path))


_TRUE, _FALSE = ("1", "true", "yes"), ("0", "false", "no", "")


def parse_parameters(argv: list[str]) -> dict:
    """``-p NAME VALUE`` (a string), ``-b NAME VALUE`` (a boolean: 1/0,
    true/false, yes/no) and ``-i NAME VALUE`` (an integer) triples as
    papermill parameters; bad input raises ``ValueError`` naming it."""
    if len(argv) % 3 or any(a not in ("-p", "-b", "-i") for a in argv[::3]):
        raise ValueError(f"expected -p NAME VALUE, -b NAME VALUE or -i NAME VALUE triples, "
                         f"got {argv}")
    parameters = {}
    for flag, name, value in zip(argv[::3], argv[1::3], argv[2::3]):
        if flag == "-b":
            if value.lower() not in _TRUE + _FALSE:
                raise ValueError(f"{name}={value!r} is not a boolean; valid: 1, 0, true, "
                                 f"false, yes, no, or empty")
            value = value.lower() in _TRUE
        elif flag == "-i":
            if not value.strip().lstrip("-").isdigit():
                raise ValueError(f"{name}={value!r} is not an integer")
            value = int(value)
        parameters[name] = value
    return parameters


def main(argv: list[str]) -> int:
    """``NOTEBOOK EXECUTED_DIR [-p NAME VALUE | -b NAME BOOL | -i NAME INT]...``."""
    try:
        if len(argv) < 2:
            raise ValueError("a notebook and an executed folder are needed")
        parameters = parse_parameters(argv[2:])
    except ValueError as error:
        print(f"error: {error}\nusage: python -m lib.execution NOTEBOOK EXECUTED_DIR "
              "[-p NAME VALUE | -b NAME BOOL | -i NAME INT]...", file=sys.stderr)
        return 2
    try:
        execute(Path(argv[0]), Path(argv[1]), parameters)
    except KeyboardInterrupt:
        return 130
    except Exception:  # already said in one line by execute(); the traceback is in the log
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
