"""Helpers shared by the generated datasets (fractal, synthetic and offline
OOD sets): per-index random streams, option checking and the float → uint8
image conversion."""

from __future__ import annotations

import zlib

import numpy as np
import torch

from lib.data.registry import SPLITS
from lib.validation import check_choice, check_range, check_type

SPLIT_CODE = {split: i for i, split in enumerate(SPLITS)}


def stream_key(name: str) -> int:
    """A stable 32-bit integer for a name (used to separate random streams)."""
    return zlib.crc32(name.encode("utf-8"))


def index_rng(*key: int) -> np.random.Generator:
    """A numpy generator seeded by a tuple of non-negative integers, e.g.
    ``(stream_key("gaussian"), split, seed, index)``.

    PCG64 seeded through ``SeedSequence`` gives the same stream on every
    platform and numpy ≥ 1.17, so an image depends only on its key."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(k) for k in key])))


def to_uint8_images(x: np.ndarray, layout: str = "NHWC") -> torch.Tensor:
    """Float images in [0, 1] → uint8 tensor N×C×H×W (``round(x·255)``, clipped).

    ``layout`` is ``"NHWC"``, ``"NCHW"`` or ``"NHW"`` (single channel)."""
    check_choice("layout", layout, ("NHWC", "NCHW", "NHW"))
    x = np.asarray(x)
    u8 = np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)
    if layout == "NHW":
        u8 = u8[:, None]
    elif layout == "NHWC":
        u8 = u8.transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(u8))


def take_options(dataset: str, options: dict, defaults: dict) -> dict:
    """``defaults`` updated with ``options``; an unknown option raises
    ``TypeError`` naming it and the valid ones."""
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        valid = ", ".join(sorted(defaults))
        raise TypeError(f"dataset {dataset!r} got unknown option(s) {', '.join(unknown)}; "
                        f"valid options: {valid}")
    return {**defaults, **options}


def check_image_options(opts: dict) -> None:
    """Validate the common ``num``/``size``/``channels``/``seed`` options (when present)."""
    for key, low in (("num", 1), ("size", 4), ("seed", 0)):
        if key in opts:
            check_type(key, opts[key], int)
            check_range(key, opts[key], low, None)
    if "channels" in opts:
        check_choice("channels", opts["channels"], (1, 3))


def check_split(split: str) -> int:
    """The integer code of ``split`` (``train`` → 0, ``test`` → 1)."""
    return SPLIT_CODE[check_choice("split", split, SPLITS)]
