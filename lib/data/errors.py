"""Errors raised when a dataset cannot be read."""

from __future__ import annotations

from pathlib import Path


class DatasetNotFoundError(FileNotFoundError):
    """A dataset (or part of it) is missing from the data root.

    The message names the dataset, the path that was looked at and how to
    obtain the files.
    """

    def __init__(self, name: str, path, how_to_get: str, detail: str = ""):
        self.name, self.path, self.how_to_get = name, Path(path), how_to_get
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"dataset {name!r} not found at {self.path}{extra}. How to get it: {how_to_get}"
        )


class DataFileError(ValueError):
    """A data file (a dataset's or a cache's) that is there but cannot be read:
    damaged, or not of its published format. The message names the file."""


class UnsafeDataFileError(DataFileError):
    """A data file that would run code to be read (a pickle asking for a
    Python object these formats never hold, an ``.npz`` with object arrays):
    refused before anything of it runs (issue 28, item 2). The message names
    the file, the reason and how to replace it."""
