"""Real out-of-distribution test sets (Hendrycks et al., 2019, §4.4; the
outlier-exposure evaluation of Hendrycks, Mazeika & Dietterich, ICLR 2019).

Layouts follow the outlier-exposure code (``hendrycks/outlier-exposure``,
``CIFAR/test.py``, and its successors' ``../data/...`` paths):

========== ============================================================
svhn       ``root/svhn/{train,test}_32x32.mat`` (torchvision layout)
textures   ``root/dtd/images/<class>/*.jpg`` (DTD)
places365  ``root/places365/**`` (any image-folder tree, e.g. ``test_subset/<class>``)
lsun       ``root/LSUN_C/**`` or ``root/LSUN/**`` (crop); ``variant='resize'``:
           ``root/LSUN_resize/**``
isun       ``root/iSUN/**``
========== ============================================================

Image folders are read recursively (files sorted by path) and fitted to
``size`` (default 32) by resizing the shorter side and centre-cropping, as
``Resize(size), CenterCrop(size)`` in the original code. ``limit=N`` keeps a
reproducible random subset of at most N images (``seed=``, default 0). These
sets have no train/test division: ``split`` is accepted and ignored, labels are
all 0 and ``num_classes`` is 1. SVHN keeps its digit labels (``10`` → ``0``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lib.data.base import DatasetInfo, ImageDataset
from lib.data.errors import DatasetNotFoundError
from lib.data.image_folder import load_image_folder, random_subset, resize_array
from lib.data.registry import register
from lib.validation import check_choice, check_range, check_type

SVHN_INFO = DatasetInfo(
    name="svhn", num_classes=10, image_size=32, channels=3,
    source="Netzer et al., Reading Digits in Natural Images with Unsupervised Feature "
           "Learning, NIPS Workshop 2011; http://ufldl.stanford.edu/housenumbers/",
    licence="non-commercial use only (see the SVHN page)",
    how_to_get="torchvision.datasets.SVHN(root/'svhn', split='test', download=True) "
               "(or download http://ufldl.stanford.edu/housenumbers/test_32x32.mat into root/svhn/)",
    class_names=tuple(str(d) for d in range(10)),
)
TEXTURES_INFO = DatasetInfo(
    name="textures", num_classes=1, image_size=32, channels=3,
    source="Cimpoi et al., Describing Textures in the Wild, CVPR 2014; "
           "https://www.robots.ox.ac.uk/~vgg/data/dtd/",
    licence="research use only (see the DTD page)",
    how_to_get="download https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz "
               "and extract it into the data root (giving root/dtd/images/<class>/*.jpg)",
    class_names=("ood",),
)
PLACES365_INFO = DatasetInfo(
    name="places365", num_classes=1, image_size=32, channels=3,
    source="Zhou et al., Places: A 10 Million Image Database for Scene Recognition, "
           "TPAMI 2017; http://places2.csail.mit.edu/download.html",
    licence="research and educational use (see the Places page)",
    how_to_get="download a Places365 image set (e.g. the small 256x256 test or val images "
               "from http://places2.csail.mit.edu/download.html) into root/places365/",
    class_names=("ood",),
)
LSUN_INFO = DatasetInfo(
    name="lsun", num_classes=1, image_size=32, channels=3,
    source="Yu et al., LSUN, arXiv:1506.03365, 2015; OOD crops/resizes by Liang et al., "
           "ODIN, ICLR 2018 (https://github.com/facebookresearch/odin)",
    licence="research use (see the LSUN and ODIN pages)",
    how_to_get="download LSUN.tar.gz (crop) or LSUN_resize.tar.gz from the ODIN repository "
               "(https://github.com/facebookresearch/odin) and extract into the data root "
               "(root/LSUN_C or root/LSUN; root/LSUN_resize)",
    class_names=("ood",),
)
ISUN_INFO = DatasetInfo(
    name="isun", num_classes=1, image_size=32, channels=3,
    source="Xu et al., TurkerGaze, arXiv:1504.06755, 2015; OOD version by Liang et al., "
           "ODIN, ICLR 2018 (https://github.com/facebookresearch/odin)",
    licence="research use (see the iSUN and ODIN pages)",
    how_to_get="download iSUN.tar.gz from the ODIN repository "
               "(https://github.com/facebookresearch/odin) and extract into the data root "
               "(giving root/iSUN/)",
    class_names=("ood",),
)


def _check_common(size, limit, seed) -> None:
    check_type("size", size, int)
    check_range("size", size, 1)
    check_type("limit", limit, int, allow_none=True)
    if limit is not None:
        check_range("limit", limit, 1)
    check_type("seed", seed, int)


def _image_folder_set(info: DatasetInfo, folders: list[Path], size, limit, seed) -> ImageDataset:
    """The first existing folder of ``folders`` as an OOD set (labels 0)."""
    _check_common(size, limit, seed)
    folder = next((f for f in folders if f.is_dir()), None)
    if folder is None:
        raise DatasetNotFoundError(info.name, folders[0], info.how_to_get,
                                   detail="also looked at " + ", ".join(map(str, folders[1:]))
                                   if len(folders) > 1 else "")
    images = load_image_folder(folder, size, limit, seed)
    if len(images) == 0:
        raise DatasetNotFoundError(info.name, folder, info.how_to_get, detail="no image files")
    return ImageDataset(images, np.zeros(len(images), dtype=np.int64), 1, info)


@register(SVHN_INFO)
def svhn(split: str, root: Path, size: int = 32, limit: int | None = None,
         seed: int = 0) -> ImageDataset:
    """SVHN cropped digits (train 73,257 / test 26,032), labels 0..9 (file's 10 → 0)."""
    from scipy.io import loadmat

    _check_common(size, limit, seed)
    path = Path(root) / "svhn" / f"{split}_32x32.mat"
    if not path.is_file():
        raise DatasetNotFoundError(SVHN_INFO.name, path, SVHN_INFO.how_to_get)
    mat = loadmat(path)
    x, y = mat["X"], np.asarray(mat["y"], dtype=np.int64).reshape(-1)
    keep = random_subset(len(y), limit, seed)
    images = np.ascontiguousarray(x[..., keep].transpose(3, 2, 0, 1), dtype=np.uint8)  # HWCN→NCHW
    labels = y[keep] % 10  # digit 0 is stored as 10
    return ImageDataset(resize_array(images, size), labels, 10, SVHN_INFO)


@register(TEXTURES_INFO)
def textures(split: str, root: Path, size: int = 32, limit: int | None = None,
             seed: int = 0) -> ImageDataset:
    """Describable Textures (DTD), 5,640 images of 47 texture classes (all labelled 0)."""
    return _image_folder_set(TEXTURES_INFO, [Path(root) / "dtd" / "images"], size, limit, seed)


@register(PLACES365_INFO)
def places365(split: str, root: Path, size: int = 32, limit: int | None = None,
              seed: int = 0) -> ImageDataset:
    """Places365 scene images found under ``root/places365`` (all labelled 0)."""
    return _image_folder_set(PLACES365_INFO, [Path(root) / "places365"], size, limit, seed)


@register(LSUN_INFO)
def lsun(split: str, root: Path, size: int = 32, limit: int | None = None, seed: int = 0,
         variant: str = "crop") -> ImageDataset:
    """LSUN test images as prepared by ODIN: ``variant='crop'`` (LSUN_C) or ``'resize'``."""
    check_choice("variant", variant, ("crop", "resize"))
    root = Path(root)
    folders = [root / "LSUN_C", root / "LSUN"] if variant == "crop" else [root / "LSUN_resize"]
    return _image_folder_set(LSUN_INFO, folders, size, limit, seed)


@register(ISUN_INFO)
def isun(split: str, root: Path, size: int = 32, limit: int | None = None,
         seed: int = 0) -> ImageDataset:
    """iSUN (8,925 scene images, as prepared by ODIN; all labelled 0)."""
    return _image_folder_set(ISUN_INFO, [Path(root) / "iSUN"], size, limit, seed)
