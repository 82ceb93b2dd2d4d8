"""Offline natural-ish OOD sets for Fashion-MNIST (design.md §5), built from
what ships with the Python packages (no download):

* ``digits`` — scikit-learn's 8×8 handwritten digits (Alpaydin & Kaynak, UCI
  *Optical Recognition of Handwritten Digits*, 1998; 1,797 images), values
  0..16 scaled to [0, 1] and upsampled to ``size`` with bilinear
  interpolation. ``test`` holds the even-numbered images, ``train`` the odd.
* ``glyphs`` — the letters A–Z and a–z rendered white on black with Pillow
  from the DejaVu and STIX TrueType fonts that ship with matplotlib, each
  image with a seeded jitter of scale and offset. Image ``i`` uses letter
  ``i mod 52`` and font ``(i // 52) mod F``, its jitter seeded by
  (split, seed, i). Deterministic for a given Pillow/FreeType/matplotlib.

Labels are all 0 (``num_classes=1``).
"""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

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

LETTERS = string.ascii_uppercase + string.ascii_lowercase
# Text fonts only (matplotlib's cm*/STIX size/NonUni fonts map letters to symbols).
GLYPH_FONTS = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf",
    "DejaVuSansMono-Oblique.ttf", "DejaVuSansMono-BoldOblique.ttf", "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf",
)

DIGITS_INFO = DatasetInfo(
    name="digits", num_classes=1, image_size=None, channels=None,
    source="scikit-learn load_digits: Alpaydin & Kaynak, Optical Recognition of "
           "Handwritten Digits, UCI Machine Learning Repository, 1998",
    licence="CC BY 4.0 (UCI)", how_to_get="ships with scikit-learn; nothing to download",
    class_names=("ood",),
)
GLYPHS_INFO = DatasetInfo(
    name="glyphs", num_classes=1, image_size=None, channels=None,
    source="letters A–Z, a–z rendered from matplotlib's bundled DejaVu and STIX fonts",
    licence="generated; fonts: Bitstream Vera/DejaVu licence and SIL OFL 1.1 (STIX)",
    how_to_get="rendered on the fly from fonts that ship with matplotlib",
    class_names=("ood",),
)


def _channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Repeat a single-channel uint8 N×1×H×W tensor to ``channels``."""
    return images if channels == 1 else images.repeat(1, channels, 1, 1).contiguous()


@register(DIGITS_INFO)
def build_digits(split="test", root=None, **options) -> ImageDataset:
    """Handwritten digits upsampled to ``size`` (options: size=28, channels=1)."""
    from sklearn.datasets import load_digits

    opts = take_options("digits", options, {"size": 28, "channels": 1})
    check_image_options(opts)
    code = check_split(split)
    raw = load_digits().images[(1 - code)::2]  # test (code 1): even rows; train: odd rows
    x = torch.from_numpy(raw / 16.0).float()[:, None]
    x = F.interpolate(x, size=(opts["size"],) * 2, mode="bilinear", align_corners=False)
    images = to_uint8_images(x[:, 0].numpy(), layout="NHW")
    return ImageDataset(_channels(images, opts["channels"]),
                        torch.zeros(len(images), dtype=torch.int64), 1, DIGITS_INFO)


@lru_cache(maxsize=1)
def glyph_font_paths() -> tuple[Path, ...]:
    """The matplotlib TrueType fonts used for ``glyphs`` (those present, in a fixed order)."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    paths = tuple(folder / name for name in GLYPH_FONTS if (folder / name).is_file())
    if not paths:
        raise FileNotFoundError(f"no TrueType fonts found in {folder}")
    return paths


def render_glyph(letter: str, font_path, size: int, scale: float, dx: float, dy: float):
    """One glyph, white on black, as a float size×size array in [0, 1]: the letter's
    height is ``scale·size``, its centre offset by (dx, dy)·size from the image centre."""
    from PIL import Image, ImageDraw

    font = _font(str(font_path), max(4, round(scale * size)))
    img = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(img)
    left, top, right, bottom = draw.textbbox((0, 0), letter, font=font)
    x = (size - (right - left)) / 2 - left + dx * size
    y = (size - (bottom - top)) / 2 - top + dy * size
    draw.text((round(x), round(y)), letter, fill=255, font=font)
    return np.asarray(img, dtype=np.float64) / 255.0


@lru_cache(maxsize=256)
def _font(path: str, pixels: int):
    from PIL import ImageFont

    return ImageFont.truetype(path, pixels)


@register(GLYPHS_INFO)
def build_glyphs(split="test", root=None, **options) -> ImageDataset:
    """Rendered letters (options: num=2000, size=28, channels=1, seed=0)."""
    opts = take_options("glyphs", options, {"num": 2000, "size": 28, "channels": 1, "seed": 0})
    check_image_options(opts)
    code = check_split(split)
    fonts, size, stream = glyph_font_paths(), opts["size"], stream_key("glyphs")
    images = np.empty((opts["num"], size, size))
    for i in range(opts["num"]):
        rng = index_rng(stream, code, opts["seed"], i)
        scale, dx, dy = rng.uniform(0.55, 0.85), *rng.uniform(-0.08, 0.08, size=2)
        images[i] = render_glyph(LETTERS[i % len(LETTERS)],
                                 fonts[(i // len(LETTERS)) % len(fonts)], size, scale, dx, dy)
    u8 = to_uint8_images(images, layout="NHW")
    return ImageDataset(_channels(u8, opts["channels"]),
                        torch.zeros(len(u8), dtype=torch.int64), 1, GLYPHS_INFO)
