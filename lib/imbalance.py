"""Class imbalance and its baselines (paper §3.2; design.md §7).

Class sizes follow a power law, n_c = α / (β + c^γ) for c = 1..K (class index
0 is the largest). The paper prints a/(b + c^γ) with a, b "the largest and
smallest class size", which cannot be literal (it would not give n_1 = a); we
solve α, β so that n_1 = a and n_K = b:

    α/(β + 1) = a  and  α/(β + K^γ) = b
    ⇒  β = (b·K^γ − a)/(a − b),   α = a·(β + 1),

then round. Since β + 1 = b(K^γ − 1)/(a − b) > 0 the sizes are positive and
strictly decreasing in c. Smaller γ is more imbalanced (Table 2): the middle
classes fall towards b faster. CIFAR-10, (a, b) = (5000, 250):

    γ = 0.2: [5000, 858, 557, 439, 375, 333, 304, 282, 264, 250]  (8,662 images)
    γ = 2.0: [5000, 3173, 1972, 1289, 892, 648, 490, 382, 306, 250]  (14,402 images)

(checked in ``tests/test_imbalance.py``). A minority class is one smaller than
the mean class size: classes 1–9 at γ = 0.2, classes 3–9 at γ = 2.0.

Resampling baselines are training-set transforms: ``"oversample"`` (random
replication, Japkowicz 2000), ``"smote"`` (Chawla et al. 2002) and
``"class_weights"`` (cost-sensitive, Huang et al. 2016); ``"logit_adjusted"`` is
an objective beyond the paper (Menon et al. 2021).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from lib.data.base import ImageDataset
from lib.metrics.imbalance import minority_classes  # noqa: F401  (named here too)
from lib.training.objectives import register_objective, weighted_mean
from lib.training.run_config import register_transform
from lib.validation import check_range, check_type


def _labels_array(labels) -> np.ndarray:
    y = labels.numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    return y.astype(np.int64)


def power_law_class_sizes(num_classes: int, gamma: float, largest: int,
                          smallest: int) -> list[int]:
    """Class sizes n_c = α/(β + c^γ), c = 1..K, rounded, with n_1 = ``largest``
    and n_K = ``smallest`` (closed form in the module docstring).

    Needs K ≥ 2, γ > 0 and ``largest > smallest > 0``."""
    check_type("num_classes", num_classes, (int, np.integer))
    check_range("num_classes", num_classes, 2, None)
    check_type("gamma", gamma, (int, float, np.integer, np.floating))
    if not gamma > 0:
        raise ValueError(f"gamma={gamma!r} is out of range; valid: (0, inf)")
    check_type("largest", largest, (int, np.integer))
    check_type("smallest", smallest, (int, np.integer))
    check_range("smallest", smallest, 1, None)
    check_range("largest", largest, smallest + 1, None)
    a, b, k = float(largest), float(smallest), int(num_classes)
    beta = (b * k ** gamma - a) / (a - b)
    alpha = a * (beta + 1.0)
    c = np.arange(1, k + 1, dtype=np.float64)
    sizes = np.rint(alpha / (beta + c ** gamma)).astype(int)
    sizes[0], sizes[-1] = largest, smallest  # exact despite floating-point rounding
    return [int(n) for n in sizes]


def imbalanced_positions(labels, class_sizes, seed: int) -> np.ndarray:
    """Sorted positions of a subset with ``class_sizes[c]`` examples of class c,
    drawn without replacement by ``seed``; ``ValueError`` if a class has too few."""
    y = _labels_array(labels)
    sizes = [int(n) for n in class_sizes]
    rng = np.random.default_rng(seed)
    chosen = []
    for c, n in enumerate(sizes):
        pool = np.flatnonzero(y == c)
        if n < 0 or n > len(pool):
            raise ValueError(f"class_sizes[{c}]={n} is not valid: class {c} has "
                             f"{len(pool)} examples")
        chosen.append(rng.choice(pool, size=n, replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64)


@register_transform("power_law_imbalance")
def power_law_imbalance(dataset: ImageDataset, seed: int, gamma: float, largest: int,
                        smallest: int) -> ImageDataset:
    """Training-set transform: the power-law imbalanced subset view (paper §3.2)."""
    sizes = power_law_class_sizes(dataset.num_classes, gamma, largest, smallest)
    return dataset.subset(imbalanced_positions(dataset.labels, sizes, seed))


@register_transform("oversample")
def oversample(dataset: ImageDataset, seed: int) -> ImageDataset:
    """Random oversampling (Japkowicz 2000): every class is topped up to the
    largest class's count by replicating its own examples, drawn uniformly with
    replacement. A view with repeated indices (no pixel copies). Classes
    without any example stay empty."""
    y = _labels_array(dataset.labels)
    counts = np.bincount(y, minlength=dataset.num_classes)
    rng = np.random.default_rng(seed)
    extra = [rng.choice(np.flatnonzero(y == c), size=counts.max() - n, replace=True)
             for c, n in enumerate(counts) if 0 < n < counts.max()]
    return dataset.subset(np.concatenate([np.arange(len(y)), *extra]).astype(np.int64))


@register_transform("smote")
def smote(dataset: ImageDataset, seed: int, k_neighbors: int = 5) -> ImageDataset:
    """SMOTE (Chawla et al. 2002) via imbalanced-learn on flattened pixels: each
    class is topped up to the largest with synthetic images interpolated between
    an example and one of its ``k_neighbors`` nearest same-class neighbours
    (Euclidean distance on uint8 pixel values), seeded by ``seed``; synthetic
    pixels are rounded to uint8.

    The one transform that is not a view: the synthetic images are new rows, so
    it returns a new dataset whose base tensor is the view's images followed by
    the synthetic ones. ``k_neighbors`` is lowered to (smallest class − 1) when a
    class is smaller than k + 1. Apply ``"class_weights"`` after, not before."""
    from imblearn.over_sampling import SMOTE

    check_type("k_neighbors", k_neighbors, int)
    check_range("k_neighbors", k_neighbors, 1, None)
    if dataset.weights is not None:
        raise ValueError("smote: the dataset carries per-example weights, which synthetic "
                         "examples would lack; apply weights after smote")
    y = _labels_array(dataset.labels)
    counts = np.bincount(y, minlength=dataset.num_classes)
    present = counts[counts > 0]
    if len(present) < 2 or present.min() == present.max():
        return dataset
    k = min(k_neighbors, int(present.min()) - 1)
    if k < 1:
        raise ValueError(f"smote needs at least 2 examples per class; the smallest class "
                         f"has {int(present.min())}")
    images = dataset.images
    flat = images.reshape(len(images), -1).numpy().astype(np.float32)
    x_res, y_res = SMOTE(k_neighbors=k, random_state=seed).fit_resample(flat, y)
    synthetic = np.clip(np.rint(x_res[len(y):]), 0, 255).astype(np.uint8)
    new_images = torch.cat([images, torch.from_numpy(synthetic).reshape(-1, *images.shape[1:])])
    return ImageDataset(new_images, y_res, dataset.num_classes, dataset.info,
                        class_names=dataset.class_names)


def inverse_frequency_weights(labels, num_classes: int) -> np.ndarray:
    """Per-class weights ∝ 1/n_c (Huang et al. 2016), normalised so that the
    per-example weights have mean 1: w_c = N / (K_present · n_c); 0 for absent
    classes. float64, length ``num_classes``."""
    y = _labels_array(labels)
    counts = np.bincount(y, minlength=num_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(num_classes)
    weights[present] = len(y) / (present.sum() * counts[present])
    return weights


@register_transform("class_weights")
def class_weights(dataset: ImageDataset, seed: int) -> ImageDataset:
    """Training-set transform for cost-sensitive learning: attach per-example
    weights ∝ inverse class frequency (mean 1). ``seed`` is unused."""
    per_class = inverse_frequency_weights(dataset.labels, dataset.num_classes)
    return dataset.with_weights(per_class[_labels_array(dataset.labels)].astype(np.float32))


def class_priors(class_sizes) -> tuple[float, ...]:
    """Class frequencies as a tuple (the hashable ``priors`` of ``"logit_adjusted"``)."""
    sizes = np.asarray(class_sizes, dtype=np.float64)
    return tuple(float(p) for p in sizes / sizes.sum())


@register_objective("logit_adjusted")
def logit_adjusted(model, batch, *, priors, tau: float = 1.0):
    """Logit-adjusted cross-entropy (Menon et al. 2021) — **beyond the paper**.

    Loss = CE(f(x) + τ·log π, y) with π the training class priors (a tuple,
    renormalised; every entry must be > 0). Predictions use the raw logits
    f(x), which are returned."""
    pi = np.asarray(priors, dtype=np.float64)
    if pi.ndim != 1 or np.any(~(pi > 0)):
        raise ValueError(f"priors must be a 1-D sequence of positive numbers, got {priors!r}")
    check_range("tau", tau, 0.0, None)
    logits = model(batch.x)
    if len(pi) != logits.shape[1]:
        raise ValueError(f"priors has {len(pi)} entries for {logits.shape[1]} classes")
    shift = torch.as_tensor(tau * np.log(pi / pi.sum()), dtype=torch.float32,
                            device=logits.device)
    per_example = F.cross_entropy(logits.float() + shift, batch.y, reduction="none")
    return weighted_mean(per_example, batch.weight), logits
