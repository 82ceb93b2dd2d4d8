"""Where generated and decoded datasets are cached (design.md §5): the
project's cache folder, never the data root, which is only read (issue: the
paper preset, item 5).

``$CACHE_DIR`` when set and not empty, else ``data_cache/`` at the repository
root (git-ignored). Each dataset keeps its files in its own sub-folder
(``fractal/``, ``tiny_imagenet/``).
"""

from __future__ import annotations

import os
from pathlib import Path

from lib.storage import declare

_REPO = Path(__file__).resolve().parents[2]


def cache_dir(dataset: str | None = None) -> Path:
    """The cache folder (of ``dataset`` when given); an empty ``$CACHE_DIR``
    means the default, never the current directory."""
    base = Path(os.environ.get("CACHE_DIR") or _REPO / "data_cache").expanduser()
    return base / dataset if dataset else base


declare("CACHE_DIR", cache_dir, "the dataset cache")
