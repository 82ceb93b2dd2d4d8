"""Synthetic out-of-distribution noise sets (outlier-exposure recipes).

Hendrycks, Mazeika & Dietterich, *Deep Anomaly Detection with Outlier
Exposure*, ICLR 2019 (and Hendrycks & Gimpel, ICLR 2017), in pixel space [0, 1]:

* ``gaussian``   — i.i.d. N(0.5, std²) per pixel, clipped to [0, 1]; the
  default ``std=0.25`` is the OE code's recipe (N(0, 0.5²) clipped in the
  [-1, 1] space of its normalized inputs).
* ``rademacher`` — each pixel ±1 mapped to {0, 1} (mean 0.5).
* ``blobs``      — Bernoulli(0.7) pixels, Gaussian blur (across the channel
  axis too, as the OE code's ``gblur(multichannel=False)``), values below 0.75
  set to 0. The blur σ follows the image size as the official pre-training
  code's test scripts: 1.5 at 32 px (hendrycks/pre-training
  ``uncertainty/CIFAR/test.py`` line 210), 2 at 64 px
  (``uncertainty/TinyImageNet/test.py`` line 199); other sizes scale the
  32-px value (1.5·size/32); ``sigma=`` overrides it.
* ``uniform``    — i.i.d. U[0, 1].

Every image is drawn from its own generator seeded by (dataset, split, seed,
index), so image *i* is the same whatever ``num`` is, on every machine. Labels
are all 0 (``num_classes=1``); images are stored as uint8 (``round(x·255)``).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from lib.data.base import DatasetInfo, ImageDataset
from lib.data.generated import (
    check_image_options,
    check_split,
    index_rng,
    stream_key,
    take_options,
    to_uint8_images,
)
from lib.data.registry import register
from lib.validation import check_choice, check_range, check_type


# -- the noise recipes: (rng, size, channels, **extra) -> float H×W×C in [0, 1] ------------
def _gaussian(rng, size, channels, std):
    return np.clip(rng.normal(0.5, std, size=(size, size, channels)), 0.0, 1.0)


def _rademacher(rng, size, channels):
    return rng.integers(0, 2, size=(size, size, channels)).astype(np.float64)


def _uniform(rng, size, channels):
    return rng.random((size, size, channels))


# The official blob blur per image size (see the module docstring).
BLOB_SIGMAS = {32: 1.5, 64: 2.0}


def blob_sigma(size: int) -> float:
    """The blobs' blur σ at ``size`` px: the official value at 32 and 64 px,
    else the 32-px value scaled with the size."""
    return BLOB_SIGMAS.get(int(size), 1.5 * size / 32.0)


def _blobs(rng, size, channels, sigma=None):
    x = rng.binomial(1, 0.7, size=(size, size, channels)).astype(np.float64)
    sigma = blob_sigma(size) if sigma is None else sigma
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
        for key in ("std", "sigma"):
            if opts.get(key) is not None:
                check_type(key, opts[key], (int, float))
                check_range(key, opts[key], 0.0, None)
        return synthetic_noise(name, split, **opts)

    build.__name__ = build.__qualname__ = f"build_{name}"
    extra = "".join(f", {k}={v}" for k, v in defaults_extra.items())
    build.__doc__ = (f"``{name}``: {_RECIPES[name][1]}. Options: num=2000, size=28, "
                     f"channels=1, seed=0{extra}.")
    return build


_INFOS: dict[str, DatasetInfo] = {}
build_gaussian = _register("gaussian", {"std": 0.25})
build_rademacher = _register("rademacher", {})
build_blobs = _register("blobs", {"sigma": None})
build_uniform = _register("uniform", {})
