"""Image files → one uint8 N×3×S×S array (design.md §5).

The one place where real image files are decoded (with PIL). It is meant for a
one-time load of an evaluation set or a cache build, never for a training loop.
Images are converted to RGB (grayscale and palette images included) and fitted
to S×S the way the outlier-exposure code does (Hendrycks et al., 2019):
``Resize(S)`` of the shorter side, then ``CenterCrop(S)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".gif", ".tif", ".tiff", ".webp")


def iter_images(directory):
    """The image files under ``directory`` (recursively), in file-system order,
    found lazily (``next(iter_images(d), None)`` is a cheap "has an image").

    Hidden files and folders (names starting with ``.``) are skipped.
    """
    directory = Path(directory)
    for path in directory.rglob("*"):
        rel = path.relative_to(directory)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file():
            yield path


def list_images(directory) -> list[Path]:
    """Every image file under ``directory`` (recursively, hidden ones
    skipped), sorted by path."""
    return sorted(iter_images(directory))


def fit_image(image, size: int) -> np.ndarray:
    """A PIL image → RGB uint8 array size×size×3 (shorter side resized to
    ``size`` with bilinear filtering, then centre-cropped)."""
    from PIL import Image

    image = image.convert("RGB")
    w, h = image.size
    if (w, h) != (size, size):
        scale = size / min(w, h)
        new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
        if (new_w, new_h) != (w, h):
            image = image.resize((new_w, new_h), Image.BILINEAR)
        left, top = (new_w - size) // 2, (new_h - size) // 2
        image = image.crop((left, top, left + size, top + size))
    return np.asarray(image, dtype=np.uint8)


def decode_images(paths: Sequence, size: int) -> np.ndarray:
    """Decode ``paths`` into a preallocated uint8 array N×3×size×size."""
    from PIL import Image

    out = np.empty((len(paths), 3, size, size), dtype=np.uint8)
    for i, path in enumerate(paths):
        with Image.open(path) as image:
            out[i] = fit_image(image, size).transpose(2, 0, 1)
    return out


def resize_array(images: np.ndarray, size: int) -> np.ndarray:
    """Fit uint8 images N×3×H×W to N×3×size×size (no-op when already that size)."""
    from PIL import Image

    if images.shape[2:] == (size, size):
        return images
    out = np.empty((len(images), 3, size, size), dtype=np.uint8)
    for i, image in enumerate(images):
        out[i] = fit_image(Image.fromarray(image.transpose(1, 2, 0)), size).transpose(2, 0, 1)
    return out


def random_subset(n: int, limit: int | None, seed: int) -> np.ndarray:
    """Sorted positions of a reproducible random subset of at most ``limit`` of ``n``."""
    if limit is None or limit >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=limit, replace=False))


def load_image_folder(directory, size: int, limit: int | None = None, seed: int = 0) -> np.ndarray:
    """Every image under ``directory`` (sorted by path; a seeded random subset of
    at most ``limit`` when given) as uint8 N×3×size×size."""
    paths = list_images(directory)
    keep = random_subset(len(paths), limit, seed)
    return decode_images([paths[i] for i in keep], size)
