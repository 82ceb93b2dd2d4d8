"""Synthetic out-of-distribution noise sets (outlier-exposure recipes).

Hendrycks, Mazeika & Dietterich, *Deep Anomaly Detection with Outlier
Exposure*, ICLR 2019 (and Hendrycks & Gimpel, ICLR 2017), in pixel space [0, 1]:

* ``gaussian``   — i.i.d. N(0.5, std²) per pixel, clipped to [0, 1]; ``std=1``
  follows the papers' text (the OE code draws N(0, 0.5²) in [-1, 1] space,
  i.e. ``std=0.25`` here).
* ``rademacher`` — each pixel ±1 mapped to {0, 1} (mean 0.5).
* ``blobs``      — Bernoulli(0.7) pixels, Gaussian blur (σ = 1.5 at 32 px,
  scaled with ``size``; across the channel axis too, as the OE code's
  ``gblur(multichannel=False)``), values below 0.75 set to 0.
* ``uniform``    — i.i.d. U[0, 1].

Every image is drawn from its own generator seeded by (dataset, split, seed,
index), so image *i* is the same whatever ``num`` is, on every machine. Labels
are all 0 (``num_classes=1``); images are stored as uint8 (``round(x·255)``).

This module also holds the helpers shared by the generated datasets
(:func:`index_rng`, :func:`to_uint8_images`, :func:`take_options`).
"""

from __future__ import annotations

import zlib

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from lib.data.base import DatasetInfo, ImageDataset
from lib.data.registry import SPLITS, register
from lib.validation import check_choice, check_range, check_type

SPLIT_CODE = {split: i for i, split in enumerate(SPLITS)}


# -- helpers shared by the generated datasets (fractal, synthetic_ood, offline_ood) ---------
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


# -- the noise recipes: (rng, size, channels, **extra) -> float H×W×C in [0, 1] ------------
def _gaussian(rng, size, channels, std):
    return np.clip(rng.normal(0.5, std, size=(size, size, channels)), 0.0, 1.0)


def _rademacher(rng, size, channels):
    return rng.integers(0, 2, size=(size, size, channels)).astype(np.float64)


def _uniform(rng, size, channels):
    return rng.random((size, size, channels))


def _blobs(rng, size, channels):
    x = rng.binomial(1, 0.7, size=(size, size, channels)).astype(np.float64)
    sigma = 1.5 * size / 32.0
    x = gaussian_filter(x, sigma=sigma, mode="nearest", truncate=4.0)
    x[x < 0.75] = 0.0
    return x


_RECIPES = {
    "gaussian": (_gaussian, "i.i.d. N(0.5, std²) per pixel, clipped to [0, 1]"),
    "rademacher": (_rademacher, "each pixel ±1, mapped to {0, 1}"),
    "blobs": (_blobs, "Bernoulli(0.7), Gaussian blur, values < 0.75 set to 0"),
    "uniform": (_uniform, "i.i.d. U[0, 1] per pixel"),
}

_SOURCE = ("Hendrycks, Mazeika & Dietterich, Deep Anomaly Detection with Outlier "
           "Exposure, ICLR 2019; Hendrycks & Gimpel, A Baseline for Detecting "
           "Misclassified and Out-of-Distribution Examples, ICLR 2017")


def synthetic_noise(name: str, split: str = "test", *, num: int = 2000, size: int = 28,
                    channels: int = 1, seed: int = 0, **extra) -> ImageDataset:
    """Build the noise set ``name`` (one of gaussian, rademacher, blobs, uniform)."""
    check_choice("name", name, _RECIPES)
    opts = dict(num=num, size=size, channels=channels, seed=seed)
    check_image_options(opts)
    code = check_split(split)
    recipe = _RECIPES[name][0]
    stream = stream_key(name)
    images = np.empty((num, size, size, channels), dtype=np.float64)
    for i in range(num):
        images[i] = recipe(index_rng(stream, code, seed, i), size, channels, **extra)
    return ImageDataset(to_uint8_images(images), torch.zeros(num, dtype=torch.int64), 1,
                        _INFOS[name])


def _register(name: str, defaults_extra: dict):
    info = DatasetInfo(
        name=name, num_classes=1, image_size=None, channels=None,
        source=_SOURCE + f" ({_RECIPES[name][1]})",
        licence="generated (no licence restrictions)",
        how_to_get="generated on the fly; nothing to download",
        class_names=("noise",),
    )
    _INFOS[name] = info

    @register(info)
    def build(split="test", root=None, **options):
        opts = take_options(name, options, {"num": 2000, "size": 28, "channels": 1,
                                            "seed": 0, **defaults_extra})
        if "std" in opts:
            check_type("std", opts["std"], (int, float))
            check_range("std", opts["std"], 0.0, None)
        return synthetic_noise(name, split, **opts)

    build.__name__ = build.__qualname__ = f"build_{name}"
    build.__doc__ = (f"``{name}``: {_RECIPES[name][1]}. Options: num=2000, size=28, "
                     f"channels=1, seed=0{', std=1.0' if defaults_extra else ''}.")
    return build


_INFOS: dict[str, DatasetInfo] = {}
build_gaussian = _register("gaussian", {"std": 1.0})
build_rademacher = _register("rademacher", {})
build_blobs = _register("blobs", {})
build_uniform = _register("uniform", {})
