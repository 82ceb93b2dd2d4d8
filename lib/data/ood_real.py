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
lsun_raw   ``root/lsun_test/**``: the raw LSUN test set (10,000 scenes), exported
           to images, resized and centre-cropped as the official code
isun       ``root/iSUN/**``
imagenet_heldout  the 64×64 Downsampled ImageNet validation images of the 800
           classes outside Tiny ImageNet (read through ``imagenet64``)
========== ============================================================

The official pre-training code (hendrycks/pre-training, ``uncertainty/CIFAR/test.py``
lines 254–263 and ``uncertainty/TinyImageNet/test.py`` lines 243–252) reads the
raw LSUN test set (``lsun_loader.LSUN(..., classes='test')``, its
``test_lmdb``) with ``Resize, CenterCrop``, not ODIN's crops: that is
``lsun_raw``. Its Tiny ImageNet evaluation adds held-out ImageNet classes
(``TinyImageNet/test.py`` lines 254–263, an image folder of ImageNet
validation images outside Tiny ImageNet's classes): ``imagenet_heldout`` builds
it from the 64×64 Downsampled ImageNet validation set (the official folder's
own resizing is not published).

Image folders are read recursively (files sorted by path) and fitted to
``size`` (default 32) by resizing the shorter side and centre-cropping, as
``Resize(size), CenterCrop(size)`` in the original code. ``limit=N`` keeps a
reproducible random subset of at most N images (``seed=``, default 0). These
sets have no train/test division: ``split`` is accepted and ignored, labels are
all 0 and ``num_classes`` is 1. SVHN keeps its digit labels (``10`` → ``0``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from lib.data.base import DatasetInfo, ImageDataset
from lib.data.errors import DatasetNotFoundError
from lib.data.image_folder import iter_images, load_image_folder, random_subset, resize_array
from lib.data.registry import check_present, get_dataset, register
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
LSUN_RAW_INFO = DatasetInfo(
    name="lsun_raw", num_classes=1, image_size=32, channels=3,
    source="Yu et al., LSUN, arXiv:1506.03365, 2015 (the test set, 10,000 scene images, "
           "as read by the official pre-training code's lsun_loader)",
    licence="research use (see the LSUN page)",
    how_to_get="download the LSUN test set (test_lmdb.zip: `python download.py -c test` "
               "with https://github.com/fyu/lsun), unzip it and export it to images "
               "(`python data.py export test_lmdb --out_dir root/lsun_test`), giving "
               "root/lsun_test/**.webp",
    class_names=("ood",),
)
IMAGENET_HELDOUT_INFO = DatasetInfo(
    name="imagenet_heldout", num_classes=1, image_size=64, channels=3,
    source="Chrabaszcz et al., A Downsampled Variant of ImageNet, arXiv:1707.08819, 2017: "
           "the 64×64 validation images of the 800 ImageNet classes outside Tiny ImageNet",
    licence="ImageNet terms of access (non-commercial research)",
    how_to_get="the 64×64 Downsampled ImageNet validation set (see the imagenet64 dataset: "
               "https://image-net.org/download-images, 'Downsampled ImageNet 64x64') in the "
               "data root; nothing else to download",
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


def _folder(info: DatasetInfo, folders: list[Path]) -> Path:
    """The first existing folder of ``folders`` holding an image file;
    :class:`DatasetNotFoundError` if there is none (stops at the first image)."""
    folder = next((f for f in folders if f.is_dir()), None)
    if folder is None:
        raise DatasetNotFoundError(info.name, folders[0], info.how_to_get,
                                   detail="also looked at " + ", ".join(map(str, folders[1:]))
                                   if len(folders) > 1 else "")
    if next(iter_images(folder), None) is None:
        raise DatasetNotFoundError(info.name, folder, info.how_to_get, detail="no image files")
    return folder


def _image_folder_set(info: DatasetInfo, folders: list[Path], size, limit, seed) -> ImageDataset:
    """The first existing folder of ``folders`` as an OOD set (labels 0)."""
    _check_common(size, limit, seed)
    images = load_image_folder(_folder(info, folders), size, limit, seed)
    return ImageDataset(images, np.zeros(len(images), dtype=np.int64), 1, info)


def _folder_check(info: DatasetInfo, folders: Callable[..., list[Path]]):
    """The registry's "is it there" of an image-folder set: ``folders(root, **options)``."""
    return lambda split, root, **options: _folder(info, folders(Path(root), **options))


def _svhn_file(split: str, root: Path, **options) -> Path:
    """``root/svhn/<split>_32x32.mat``; :class:`DatasetNotFoundError` if missing."""
    path = Path(root) / "svhn" / f"{split}_32x32.mat"
    if not path.is_file():
        raise DatasetNotFoundError(SVHN_INFO.name, path, SVHN_INFO.how_to_get)
    return path


@register(SVHN_INFO, check=_svhn_file)
def svhn(split: str, root: Path, size: int = 32, limit: int | None = None,
         seed: int = 0) -> ImageDataset:
    """SVHN cropped digits (train 73,257 / test 26,032), labels 0..9 (file's 10 → 0)."""
    from scipy.io import loadmat

    _check_common(size, limit, seed)
    mat = loadmat(_svhn_file(split, root))
    x, y = mat["X"], np.asarray(mat["y"], dtype=np.int64).reshape(-1)
    keep = random_subset(len(y), limit, seed)
    images = np.ascontiguousarray(x[..., keep].transpose(3, 2, 0, 1), dtype=np.uint8)  # HWCN→NCHW
    labels = y[keep] % 10  # digit 0 is stored as 10
    return ImageDataset(resize_array(images, size), labels, 10, SVHN_INFO)


def _textures_folders(root: Path, **options) -> list[Path]:
    return [root / "dtd" / "images"]


def _places365_folders(root: Path, **options) -> list[Path]:
    return [root / "places365"]


def _lsun_folders(root: Path, variant: str = "crop", **options) -> list[Path]:
    check_choice("variant", variant, ("crop", "resize"))
    return [root / "LSUN_C", root / "LSUN"] if variant == "crop" else [root / "LSUN_resize"]


def _isun_folders(root: Path, **options) -> list[Path]:
    return [root / "iSUN"]


def _lsun_raw_folders(root: Path, **options) -> list[Path]:
    return [root / "lsun_test"]


@register(TEXTURES_INFO, check=_folder_check(TEXTURES_INFO, _textures_folders))
def textures(split: str, root: Path, size: int = 32, limit: int | None = None,
             seed: int = 0) -> ImageDataset:
    """Describable Textures (DTD), 5,640 images of 47 texture classes (all labelled 0)."""
    return _image_folder_set(TEXTURES_INFO, _textures_folders(Path(root)), size, limit, seed)


@register(PLACES365_INFO, check=_folder_check(PLACES365_INFO, _places365_folders))
def places365(split: str, root: Path, size: int = 32, limit: int | None = None,
              seed: int = 0) -> ImageDataset:
    """Places365 scene images found under ``root/places365`` (all labelled 0)."""
    return _image_folder_set(PLACES365_INFO, _places365_folders(Path(root)), size, limit, seed)


@register(LSUN_INFO, check=_folder_check(LSUN_INFO, _lsun_folders))
def lsun(split: str, root: Path, size: int = 32, limit: int | None = None, seed: int = 0,
         variant: str = "crop") -> ImageDataset:
    """LSUN test images as prepared by ODIN: ``variant='crop'`` (LSUN_C) or ``'resize'``."""
    return _image_folder_set(LSUN_INFO, _lsun_folders(Path(root), variant), size, limit, seed)


@register(ISUN_INFO, check=_folder_check(ISUN_INFO, _isun_folders))
def isun(split: str, root: Path, size: int = 32, limit: int | None = None,
         seed: int = 0) -> ImageDataset:
    """iSUN (8,925 scene images, as prepared by ODIN; all labelled 0)."""
    return _image_folder_set(ISUN_INFO, _isun_folders(Path(root)), size, limit, seed)


@register(LSUN_RAW_INFO, check=_folder_check(LSUN_RAW_INFO, _lsun_raw_folders))
def lsun_raw(split: str, root: Path, size: int = 32, limit: int | None = None,
             seed: int = 0) -> ImageDataset:
    """The raw LSUN test set, resized and centre-cropped (all labelled 0)."""
    return _image_folder_set(LSUN_RAW_INFO, _lsun_raw_folders(Path(root)), size, limit, seed)


def _heldout_check(split: str, root: Path, **options) -> None:
    """The 64×64 validation set it is drawn from must be there; the error names
    ``imagenet_heldout`` and where the imagenet64 files were looked for."""
    try:
        check_present("imagenet64", "test", root, exclude="tiny_imagenet")
    except DatasetNotFoundError as missing:
        raise DatasetNotFoundError(IMAGENET_HELDOUT_INFO.name, missing.path,
                                   IMAGENET_HELDOUT_INFO.how_to_get,
                                   detail=f"read from the imagenet64 validation set: {missing}"
                                   ) from None


@register(IMAGENET_HELDOUT_INFO, check=_heldout_check)
def imagenet_heldout(split: str, root: Path, size: int = 64, limit: int | None = None,
                     seed: int = 0) -> ImageDataset:
    """ImageNet classes held out of Tiny ImageNet (800 classes, 40,000 validation
    images at 64×64; ``size`` other than 64 resizes; all labelled 0)."""
    _check_common(size, limit, seed)
    _heldout_check(split, root)
    val = get_dataset("imagenet64", "test", root, exclude="tiny_imagenet")
    images = val.subset(random_subset(len(val), limit, seed)).images.numpy()
    images = resize_array(np.ascontiguousarray(images), size)
    return ImageDataset(images, np.zeros(len(images), dtype=np.int64), 1, IMAGENET_HELDOUT_INFO)
