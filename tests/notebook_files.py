"""A small notebook written for the tests of ``lib.execution`` (make book's
execution of one notebook): the section notebooks' parameters cell, then cells."""

from __future__ import annotations

from pathlib import Path

import nbformat


def tiny_notebook(path: Path, *cells: str) -> Path:
    """A notebook with the section notebooks' parameters cell, then ``cells``."""
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})
    parameters = nbformat.v4.new_code_cell('preset = "smoke"\ndata_root = None\ndevice = "auto"')
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters, *(nbformat.v4.new_code_cell(c) for c in cells)]
    nbformat.write(nb, str(path))
    return path
