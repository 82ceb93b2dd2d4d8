"""Formula-driven fractal images, in the manner of FractalDB (Kataoka et al.,
*Pre-training without Natural Images*, ACCV 2020): the quick preset's
pre-training source (design.md §5). Written from scratch.

* **Class** ``c``: an iterated function system (IFS) of 2..``max_maps`` random
  affine maps ``p ↦ A p + t`` (entries of ``A`` and ``t`` uniform in [-1, 1];
  ``A`` rescaled so its largest singular value is ≤ 0.9, so the IFS is
  contractive), drawn from a generator seeded by (seed, c, attempt). The class
  is kept when its attractor, rendered at 32×32 with 4,096 points, fills at
  least ``min_fill`` of the canvas; otherwise the next attempt is drawn.
* **Instance** ``i`` of class ``c``: every IFS parameter jittered by
  U[-``jitter``, ``jitter``], random horizontal and vertical flips, all drawn
  from a generator seeded by (seed, c, split, i). Train uses instances
  0..per_class-1 and test 0..test_per_class-1 of a separate (split) stream,
  so the two never share an image.
* **Rendering**: the chaos game (many chains per image, every chain started at
  the fixed point of map 0, which lies on the attractor, so no burn-in),
  vectorised over a batch of images; map ``k`` is picked with probability
  ∝ max(|det A_k|, 0.02). Points are scaled into a 2×size canvas (bounding
  box, aspect kept), painted, and 2×2 averaged (anti-aliasing). With
  ``channels=3`` every map has a colour (from the class generator) and a pixel
  takes the mean colour of the points painted on it.

Reproducibility: only uniform draws from PCG64 and element-wise IEEE
arithmetic (+, −, ×, ÷, √, floor) are used — no BLAS, no transcendental
functions — so the images are byte-identical on every machine and process, and
an image depends only on (options, class, split, index): a subset of classes,
or a smaller ``per_class``, gives exactly the corresponding images of a larger
set. There is no GPU path on purpose (it could not promise this).

Generated sets are cached (``cache=True``) as ``<cache dir>/fractal/<sha256 of
the options>.npz`` (:func:`lib.data.cache.cache_dir`, never the data root) with
a content hash; a corrupt cache file is regenerated, never used.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from lib.atomic_io import atomic_write_npz
from lib.data.base import DatasetInfo, ImageDataset
from lib.data.cache import cache_dir
from lib.data.npz import read_npz
from lib.data.generated import (
    check_image_options,
    check_split,
    index_rng,
    stream_key,
    take_options,
    to_uint8_images,
)
from lib.data.registry import register
from lib.validation import check_range, check_type

VERSION = 1  # bump when the algorithm changes: it is part of the cache key
MAX_SIGMA = 0.9  # largest singular value allowed for a map's linear part
MIN_PROB_DET = 0.02  # floor of |det A| when choosing maps
FILL_CANVAS, FILL_CHAINS, FILL_STEPS = 32, 128, 32  # the fill-ratio reference rendering
STEPS = 32  # chaos-game steps per chain
BATCH = 256  # images rendered together
_CLASS_STREAM, _INSTANCE_STREAM = stream_key("fractal/class"), stream_key("fractal/instance")

DEFAULTS = dict(num_classes=1000, per_class=100, test_per_class=None, size=28, channels=1,
                seed=0, max_maps=4, min_fill=0.1, jitter=0.1, cache=True)

INFO = DatasetInfo(
    name="fractal", num_classes=DEFAULTS["num_classes"], image_size=None, channels=None,
    source="formula-driven, after Kataoka et al., Pre-training without Natural Images, "
           "ACCV 2020 (FractalDB)",
    licence="generated (no licence restrictions)",
    how_to_get="generated on the fly (and cached in the project's data_cache/fractal/); "
               "nothing to download",
)


# -- IFS parameters ------------------------------------------------------------------------
def _limit_sigma(p: np.ndarray) -> np.ndarray:
    """Rescale each map's linear part (columns a, b, c, d of ``p[..., 6]``) so that its
    largest singular value is at most MAX_SIGMA (closed form for 2×2, no BLAS)."""
    a, b, c, d = p[..., 0], p[..., 1], p[..., 2], p[..., 3]
    q = a * a + b * b + c * c + d * d
    det = a * d - b * c
    sigma = np.sqrt((q + np.sqrt(np.maximum(q * q - 4.0 * det * det, 0.0))) / 2.0)
    scale = np.where(sigma > MAX_SIGMA, MAX_SIGMA / np.maximum(sigma, 1e-300), 1.0)
    out = p.copy()
    out[..., :4] *= scale[..., None]
    return out


def _cumulative_probs(p: np.ndarray, n_maps: np.ndarray) -> np.ndarray:
    """Cumulative map probabilities ∝ max(|det A_k|, MIN_PROB_DET); padded maps get 0."""
    det = np.abs(p[..., 0] * p[..., 3] - p[..., 1] * p[..., 2])
    w = np.maximum(det, MIN_PROB_DET)
    w = np.where(np.arange(p.shape[-2]) < n_maps[..., None], w, 0.0)
    cum = np.cumsum(w, axis=-1)  # ≤ 8 terms, sequential: deterministic
    return cum / cum[..., -1:]


def _draw_class(seed: int, c: int, attempt: int, max_maps: int):
    rng = index_rng(_CLASS_STREAM, seed, c, attempt)
    n = int(rng.integers(2, max_maps + 1))
    p = np.zeros((max_maps, 6))
    p[:n] = rng.uniform(-1.0, 1.0, size=(n, 6))
    colours = np.zeros((max_maps, 3))
    colours[:n] = rng.uniform(0.25, 1.0, size=(n, 3))
    return _limit_sigma(p), n, colours


@lru_cache(maxsize=8)
def class_parameters(seed: int, num_classes: int, max_maps: int, min_fill: float):
    """IFS parameters of classes 0..num_classes-1: ``(params K×M×6, n_maps K, colours
    K×M×3, fill K, attempts K)``. Class ``c`` depends only on (seed, c, max_maps,
    min_fill): the first attempt whose reference rendering fills ≥ ``min_fill``."""
    params = np.zeros((num_classes, max_maps, 6))
    n_maps = np.zeros(num_classes, dtype=np.int64)
    colours = np.zeros((num_classes, max_maps, 3))
    fill = np.full(num_classes, -1.0)
    attempts = np.zeros(num_classes, dtype=np.int64)
    todo = np.arange(num_classes)
    attempt = 0
    while len(todo):
        if attempt > 10_000:
            raise RuntimeError(f"min_fill={min_fill} is unreachable for classes {todo[:5]}…")
        for c in todo:
            params[c], n_maps[c], colours[c] = _draw_class(seed, int(c), attempt, max_maps)
            attempts[c] = attempt
        for start in range(0, len(todo), BATCH):
            cls = todo[start:start + BATCH]
            rngs = [index_rng(_CLASS_STREAM, seed, int(c), attempt, 1) for c in cls]
            u = np.stack([r.random((FILL_STEPS, FILL_CHAINS)) for r in rngs])
            occ = _render(params[cls], n_maps[cls], u, FILL_CANVAS)
            fill[cls] = (occ > 0).reshape(len(cls), -1).mean(axis=1)
        todo = todo[fill[todo] < min_fill]
        attempt += 1
    return params, n_maps, colours, fill, attempts


# -- rendering -------------------------------------------------------------------------------
def _render(p, n_maps, u, canvas, flips=None, colours=None):
    """Chaos game for a batch: ``p`` B×M×6 maps, ``u`` B×STEPS×CHAINS uniforms choosing
    the maps. Returns per-pixel point counts B×canvas×canvas (``colours=None``) or
    (counts, colour sums B×canvas×canvas×3)."""
    B, M, _ = p.shape
    cum = _cumulative_probs(p, n_maps)
    choice = np.zeros(u.shape, dtype=np.int64)
    for m in range(M - 1):
        choice += u >= cum[:, m, None, None]
    np.minimum(choice, (n_maps - 1)[:, None, None], out=choice)  # guard u≈1 rounding
    choice += (np.arange(B) * M)[:, None, None]  # index into the flattened B·M maps
    coef = [np.ascontiguousarray(p[:, :, k]).ravel() for k in range(6)]  # each B·M
    a0, b0, c0, d0, e0, f0 = (p[:, 0, k] for k in range(6))
    den = (1.0 - a0) * (1.0 - d0) - b0 * c0  # fixed point of map 0: (I − A) x = t
    x = np.repeat((((1.0 - d0) * e0 + b0 * f0) / den)[:, None], u.shape[2], axis=1)
    y = np.repeat(((c0 * e0 + (1.0 - a0) * f0) / den)[:, None], u.shape[2], axis=1)
    steps = u.shape[1]
    xs = np.empty((B, steps, u.shape[2]))
    ys = np.empty_like(xs)
    order = np.ascontiguousarray(choice.transpose(1, 0, 2))  # steps×B×CHAINS
    for s in range(steps):
        a, b, c, d, e, f = (col.take(order[s]) for col in coef)
        a *= x  # x' = (a·x + b·y) + e, y' = (c·x + d·y) + f, in this order
        b *= y
        a += b
        a += e
        c *= x
        d *= y
        c += d
        c += f
        x, y = a, c
        xs[:, s], ys[:, s] = x, y
    xs, ys = xs.reshape(B, -1), ys.reshape(B, -1)
    lo_x, hi_x = xs.min(axis=1, keepdims=True), xs.max(axis=1, keepdims=True)
    lo_y, hi_y = ys.min(axis=1, keepdims=True), ys.max(axis=1, keepdims=True)
    extent = np.maximum(np.maximum(hi_x - lo_x, hi_y - lo_y), 1e-12)
    margin = max(1, canvas // 28)
    scale = (canvas - 2 * margin) / extent
    px = np.floor((xs - (lo_x + hi_x) / 2.0) * scale + canvas / 2.0).astype(np.int64)
    py = np.floor((ys - (lo_y + hi_y) / 2.0) * scale + canvas / 2.0).astype(np.int64)
    np.clip(px, 0, canvas - 1, out=px)
    np.clip(py, 0, canvas - 1, out=py)
    if flips is not None:
        px = np.where(flips[:, :1], canvas - 1 - px, px)
        py = np.where(flips[:, 1:], canvas - 1 - py, py)
    pix = (np.arange(B)[:, None] * canvas + py) * canvas + px
    counts = np.bincount(pix.ravel(), minlength=B * canvas * canvas).reshape(B, canvas, canvas)
    if colours is None:
        return counts
    which = (choice - (np.arange(B) * M)[:, None, None]).reshape(B, -1)
    rgb = colours[np.arange(B)[:, None], which]  # B×points×3
    sums = np.stack([np.bincount(pix.ravel(), weights=rgb[..., ch].ravel(),
                                 minlength=B * canvas * canvas) for ch in range(3)], axis=-1)
    return counts, sums.reshape(B, canvas, canvas, 3)


def _downsample2(x: np.ndarray) -> np.ndarray:
    """2×2 mean over axes 1, 2 of B×2H×2W(×C)."""
    return (x[:, 0::2, 0::2] + x[:, 1::2, 0::2] + x[:, 0::2, 1::2] + x[:, 1::2, 1::2]) / 4.0


def render_instances(classes, indices, split_code: int, opts: dict, classes_info) -> np.ndarray:
    """Float images B×size×size×channels in [0, 1] for (class, index) pairs."""
    params, n_maps, colours = classes_info[:3]
    size, channels, seed = opts["size"], opts["channels"], opts["seed"]
    canvas = 2 * size
    chains = max(16, -(-int(1.5 * canvas * canvas) // STEPS))
    B, M = len(classes), params.shape[1]
    p = np.empty((B, M, 6))
    u = np.empty((B, STEPS, chains))
    flips = np.empty((B, 2), dtype=bool)
    for j, (c, i) in enumerate(zip(classes, indices)):
        rng = index_rng(_INSTANCE_STREAM, seed, int(c), split_code, int(i))
        p[j] = params[c] + rng.uniform(-opts["jitter"], opts["jitter"], size=(M, 6))
        flips[j] = rng.random(2) < 0.5
        u[j] = rng.random((STEPS, chains))
    p = _limit_sigma(p)
    if channels == 1:
        occ = (_render(p, n_maps[classes], u, canvas, flips) > 0).astype(np.float64)
        return _downsample2(occ)[..., None]
    counts, sums = _render(p, n_maps[classes], u, canvas, flips, colours[classes])
    mean = sums / np.maximum(counts, 1)[..., None]
    return _downsample2(mean)


# -- options, cache and the registered builder -----------------------------------------------
def resolve_options(**options) -> dict:
    """Defaults filled in and validated (see :data:`DEFAULTS`)."""
    opts = take_options("fractal", options, DEFAULTS)
    check_image_options(opts)
    for key in ("num_classes", "per_class", "max_maps"):
        check_type(key, opts[key], int)
    check_range("num_classes", opts["num_classes"], 1, None)
    check_range("per_class", opts["per_class"], 1, None)
    check_range("max_maps", opts["max_maps"], 2, 16)
    if opts["test_per_class"] is None:
        opts["test_per_class"] = max(opts["per_class"] // 5, 1)
    check_type("test_per_class", opts["test_per_class"], int)
    check_range("test_per_class", opts["test_per_class"], 1, None)
    for key, hi in (("min_fill", 1.0), ("jitter", 1.0)):
        check_type(key, opts[key], (int, float))
        check_range(key, opts[key], 0.0, hi)
    check_type("cache", opts["cache"], bool)
    return opts


def generate(split: str = "train", **options):
    """Generate the images (uint8 N×C×H×W tensor) and labels (int64 N), class-major,
    without touching the cache."""
    opts = resolve_options(**options)
    code = check_split(split)
    per = opts["per_class"] if split == "train" else opts["test_per_class"]
    info = class_parameters(opts["seed"], opts["num_classes"], opts["max_maps"],
                            float(opts["min_fill"]))
    classes = np.repeat(np.arange(opts["num_classes"]), per)
    indices = np.tile(np.arange(per), opts["num_classes"])
    size, ch = opts["size"], opts["channels"]
    images = torch.empty((len(classes), ch, size, size), dtype=torch.uint8)
    for start in range(0, len(classes), BATCH):
        sl = slice(start, start + BATCH)
        images[sl] = to_uint8_images(render_instances(classes[sl], indices[sl], code, opts, info))
    return images, torch.from_numpy(classes)


def cache_path(split: str, opts: dict) -> Path:
    """``<cache dir>/fractal/<sha256 of version, split and options>.npz``."""
    key = {k: v for k, v in opts.items() if k != "cache"}
    blob = json.dumps({"version": VERSION, "split": split, **key}, sort_keys=True)
    return cache_dir("fractal") / f"{hashlib.sha256(blob.encode()).hexdigest()[:32]}.npz"


def _content_hash(images: np.ndarray, labels: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(str(images.shape).encode())
    h.update(np.ascontiguousarray(images).data)
    h.update(np.ascontiguousarray(labels, dtype=np.int64).data)
    return h.hexdigest()


def _load_cache(path: Path):
    """``(images, labels)`` from a cache file, or ``None`` (with a warning) when it is
    missing, unreadable or fails its content hash."""
    if not path.is_file():
        return None
    try:
        z = read_npz(path, ["images", "labels", "sha256"], "It is regenerated.")
        images, labels, digest = z["images"], z["labels"], str(z["sha256"])
        if _content_hash(images, labels) != digest:
            raise ValueError("content hash mismatch")
    except Exception as err:  # noqa: BLE001 - any damage means: regenerate
        warnings.warn(f"fractal cache {path} is corrupt ({err}); regenerating it", stacklevel=3)
        return None
    return torch.from_numpy(images), torch.from_numpy(labels)


def _save_cache(path: Path, images: torch.Tensor, labels: torch.Tensor, opts: dict) -> None:
    """Write the cache atomically; a failure only costs the cache."""
    x, y = images.numpy(), labels.numpy()
    try:
        atomic_write_npz(path, images=x, labels=y, sha256=np.array(_content_hash(x, y)),
                         options=np.array(json.dumps(opts, sort_keys=True)))
    except OSError as err:
        warnings.warn(f"could not write the fractal cache {path} ({err}); continuing "
                      "without it", stacklevel=3)


@register(INFO)
def build_fractal(split="train", root=None, **options) -> ImageDataset:
    """FractalDB-style dataset (``root`` is not used: nothing is read from or
    written to the data root). Options (defaults): num_classes=1000,
    per_class=100, test_per_class=max(per_class//5, 1), size=28, channels=1
    (or 3), seed=0, max_maps=4, min_fill=0.1, jitter=0.1, cache=True."""
    opts = resolve_options(**options)
    check_split(split)
    path = cache_path(split, opts)
    loaded = _load_cache(path) if opts["cache"] else None
    if loaded is None:
        images, labels = generate(split, **opts)
        if opts["cache"]:
            _save_cache(path, images, labels, {k: v for k, v in opts.items() if k != "cache"})
    else:
        images, labels = loaded
    names = tuple(f"ifs_{c:04d}" for c in range(opts["num_classes"]))
    return ImageDataset(images, labels, opts["num_classes"], INFO, class_names=names)
