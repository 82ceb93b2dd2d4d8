"""Label corruption and its corrections (paper §3.1; design.md §7).

Conventions
-----------
A corruption matrix ``C`` is K×K and row-stochastic:
``C[i, j] = p(ỹ = j | y = i)`` (row = clean class, column = observed label).

* Uniform corruption of strength ``s``: ``C = (1 − s)·I + s·11ᵀ/K`` — the
  paper's formula, so a "corrupted" label can land on the true class again
  (the clean label survives with probability ``1 − s + s/K``).
* Flip corruption (Hendrycks et al. 2018): class ``i`` becomes one fixed other
  class ``π(i)`` with probability ``s`` (``π`` a seeded derangement).

The trusted ("gold") part of a training set is a class-stratified fraction
whose labels stay clean (design.md §7).

**How methods know which examples are trusted.** The ``"corrupt_labels"``
training-set transform returns a view whose *first* ``n_trusted`` positions
are the trusted examples (clean labels), followed by the untrusted ones
(corrupted labels); ``n_trusted = round(fraction · N)`` = ``len(trusted_split(
labels, fraction, seed)[0])`` = the length of the ``part="trusted"`` view. The
``"glc"`` objective takes ``num_trusted`` and reads ``batch.index < num_trusted``
(the loader's ``index`` is the position in the view). No label offsets (the
official code adds K to gold labels) and no overloaded loss weights: the
per-example weights keep their meaning. Put ``"corrupt_labels"`` last among the
transforms so that nothing reorders the view after it.

Two-stage workflows: *Forward* trains on ``part="all"`` (fraction 0), estimates
C with :func:`estimate_forward_matrix` from its softmax on that training view,
then retrains with ``"forward_corrected"``. *GLC* trains on
``part="untrusted"``, estimates C with :func:`estimate_glc_matrix` from its
softmax on the ``part="trusted"`` view and those clean labels, then retrains on
``part="all"`` with ``"glc"``.

Corrections (objectives registered with :func:`register_objective`):

* ``"forward_corrected"`` (Patrini et al. 2017): loss = −log (softmax(f(x)) C)[ỹ].
* ``"glc"`` (Hendrycks et al. 2018): the same on untrusted examples, plain
  cross-entropy with the clean label on trusted ones; the sum over the batch
  is divided by the batch size (weighted mean when the data carries weights).

Matrices travel as tuples of tuples of floats (:func:`matrix_param`) so that
objective parameters stay hashable and JSON-serialisable for the run cache.

Where the official code differs (hendrycks/pre-training at 10cd02a,
``robustness/label_corruption/``; issue 27), each stated where it happens:
Forward's anchor rows on CIFAR-10 (:func:`estimate_forward_matrix`), GLC's
second stage (:func:`glc`), the trusted split (:func:`trusted_split`). Two more
live in the fine-tuned model, not here: the official Forward and GLC scripts give
the pre-trained network a classifier *without a bias* (``nn.Linear(128, K,
bias=False)``; ours keeps a bias, initialised to zero,
:meth:`lib.models.wide_resnet.WideResNet.replace_classifier`), and normalise
inputs with the CIFAR per-channel statistics although the source was pre-trained
on (x − 0.5)/0.5 (ours: each model normalises inside with the statistics of its
source's run chain, :mod:`lib.models.normalization`). All of them can move the
Forward and GLC rows of Table 1 (and Figure 2).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from lib.data.base import ImageDataset
from lib.data.subsets import stratified_positions
from lib.training.objectives import register_objective, weighted_mean
from lib.training.run_config import register_transform
from lib.validation import check_choice, check_range, check_type

CORRUPTION_KINDS = ("uniform", "flip")
PARTS = ("all", "trusted", "untrusted")
MISSING_ROW_RULES = ("identity", "uniform")


def _stream_seed(seed: int, stream: int) -> int:
    """An independent child seed of ``seed`` (numpy SeedSequence), one per use."""
    return int(np.random.SeedSequence([int(seed), int(stream)]).generate_state(1)[0])


def _check_num_classes(num_classes) -> int:
    check_type("num_classes", num_classes, (int, np.integer))
    check_range("num_classes", num_classes, 1, None)
    return int(num_classes)


# -- corruption matrices --------------------------------------------------------------

def uniform_corruption_matrix(num_classes: int, strength: float) -> np.ndarray:
    """``C = (1 − s)·I + s·11ᵀ/K`` (paper §3.1), float64 K×K, rows sum to 1.

    ``strength`` s ∈ [0, 1]: the probability that a label is redrawn uniformly
    over all K classes (the true one included)."""
    k = _check_num_classes(num_classes)
    check_range("strength", strength, 0.0, 1.0)
    return (1.0 - strength) * np.eye(k) + strength * np.full((k, k), 1.0 / k)


def flip_corruption_matrix(num_classes: int, strength: float, seed: int) -> np.ndarray:
    """Each class ``i`` flips to one fixed other class ``π(i)`` with probability
    ``strength`` (Hendrycks et al. 2018, "flip"); ``π`` is a random permutation
    without fixed points drawn by ``seed``. Needs K ≥ 2."""
    k = _check_num_classes(num_classes)
    check_range("num_classes", k, 2, None)
    check_range("strength", strength, 0.0, 1.0)
    rng = np.random.default_rng(seed)
    while True:  # rejection sampling of a derangement: about e ≈ 2.7 draws on average
        perm = rng.permutation(k)
        if not np.any(perm == np.arange(k)):
            break
    matrix = (1.0 - strength) * np.eye(k)
    matrix[np.arange(k), perm] += strength
    return matrix


def check_corruption_matrix(matrix, parameter: str = "corruption_matrix") -> np.ndarray:
    """``matrix`` as float64 K×K after checking it is square, non-negative and
    row-stochastic (each row sums to 1 within 1e-6); else ``ValueError``."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise ValueError(f"{parameter} must be a square K×K matrix, got shape {m.shape}")
    if not np.all(np.isfinite(m)) or np.any(m < 0):
        raise ValueError(f"{parameter} must have finite non-negative entries, "
                         f"got minimum {np.nanmin(m)!r}")
    sums = m.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > 1e-6)
    if len(bad):
        raise ValueError(f"{parameter} rows must sum to 1 (within 1e-6); row {bad[0]} "
                         f"sums to {sums[bad[0]]!r}")
    return m


def matrix_param(matrix) -> tuple:
    """A checked corruption matrix as a tuple of tuples of floats: the hashable,
    JSON-friendly form the ``"forward_corrected"``/``"glc"`` objectives take."""
    m = check_corruption_matrix(matrix, "matrix")
    return tuple(tuple(float(v) for v in row) for row in m)


# -- corrupting labels -----------------------------------------------------------------

def corrupt_labels(labels, corruption_matrix, seed: int) -> np.ndarray:
    """Draw ``ỹ ~ C[y]`` for every label (int64 array, same length).

    Vectorised inverse-CDF sampling: one uniform ``u`` per example, and
    ``ỹ = #{j : cumsum(C[y])[j] ≤ u}`` (zero-probability labels are never drawn).
    The same (labels, matrix, seed) always gives the same result."""
    m = check_corruption_matrix(corruption_matrix)
    k = m.shape[0]
    y = np.asarray(labels.numpy() if isinstance(labels, torch.Tensor) else labels)
    if y.ndim != 1 or (len(y) and not np.issubdtype(y.dtype, np.integer)):
        raise ValueError(f"labels must be a 1-D integer array, got dtype {y.dtype} "
                         f"and shape {y.shape}")
    y = y.astype(np.int64)
    if len(y) and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"labels must lie in [0, {k - 1}] for a {k}×{k} corruption_matrix, "
                         f"got range [{y.min()}, {y.max()}]")
    cumulative = np.cumsum(m, axis=1)
    cumulative /= cumulative[:, -1:]  # exact 1 at the end despite rounding
    u = np.random.default_rng(seed).random(len(y))
    return (cumulative[y] <= u[:, None]).sum(axis=1).astype(np.int64)


def trusted_split(labels, trusted_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(trusted positions, untrusted positions), both sorted int64 arrays.

    The trusted part is a class-stratified random ``round(fraction · N)`` of the
    examples (:func:`lib.data.subsets.stratified_positions`); fraction 0 → none.

    **Where the official code differs** (issue 27;
    ``robustness/label_corruption/load_corrupted_ours_hierarchical.py``): for
    fractions of 5% and more (GLC's 5% and 10%) it takes the first
    ``fraction · 50000`` training images in file order and reshuffles all of
    them only while a class is missing there, so the trusted classes are
    represented in random, unequal numbers; below 5% it takes the first
    ``fraction · 50000 / K`` images of each class. Ours draws the same number
    of each class (up to rounding) at every fraction, as design.md §7 asks.
    Affected: the GLC rows of Table 1."""
    check_range("trusted_fraction", trusted_fraction, 0.0, 1.0)
    y = np.asarray(labels.numpy() if isinstance(labels, torch.Tensor) else labels)
    n = len(y)
    size = round(trusted_fraction * n)
    mask = np.zeros(n, bool)
    if size > 0:
        mask[stratified_positions(y, size, seed)] = True
    return np.flatnonzero(mask).astype(np.int64), np.flatnonzero(~mask).astype(np.int64)


def corruption_matrix(kind: str, num_classes: int, strength: float, seed: int) -> np.ndarray:
    """The ``kind`` ("uniform" | "flip") corruption matrix (``seed`` draws the flip)."""
    check_choice("kind", kind, CORRUPTION_KINDS)
    if kind == "uniform":
        return uniform_corruption_matrix(num_classes, strength)
    return flip_corruption_matrix(num_classes, strength, seed)


def _corrupted_parts(dataset: ImageDataset, kind: str, strength: float,
                     trusted_fraction: float, seed: int):
    """(trusted positions, untrusted positions, corrupted labels of the untrusted)."""
    trusted, untrusted = trusted_split(dataset.labels, trusted_fraction, seed)
    matrix = corruption_matrix(kind, dataset.num_classes, strength, _stream_seed(seed, 1))
    noisy = corrupt_labels(dataset.labels.numpy()[untrusted], matrix, _stream_seed(seed, 2))
    return trusted, untrusted, noisy


def split_corrupted(dataset: ImageDataset, kind: str, strength: float,
                    trusted_fraction: float, seed: int) -> tuple[ImageDataset, ImageDataset]:
    """(trusted view with clean labels, untrusted view with corrupted labels).

    ``seed`` determines the trusted split (:func:`trusted_split` with ``seed``
    itself), the flip permutation and the corrupted labels (independent child
    seeds)."""
    trusted, untrusted, noisy = _corrupted_parts(dataset, kind, strength, trusted_fraction, seed)
    return dataset.subset(trusted), dataset.subset(untrusted).relabel(noisy)


@register_transform("corrupt_labels")
def corrupt_labels_transform(dataset: ImageDataset, seed: int, kind: str = "uniform",
                             strength: float = 0.0, trusted_fraction: float = 0.0,
                             part: str = "all") -> ImageDataset:
    """Training-set transform (paper §3.1): the view with the trusted examples
    first (clean labels), then the untrusted ones (corrupted labels), as in
    :func:`split_corrupted`. ``part="trusted"``/``"untrusted"`` keeps only that
    part (GLC's first stage trains on the untrusted part). With
    ``trusted_fraction=0`` the order is unchanged (a pure relabelling)."""
    check_choice("part", part, PARTS)
    trusted, untrusted, noisy = _corrupted_parts(dataset, kind, strength, trusted_fraction, seed)
    if part == "trusted":
        return dataset.subset(trusted)
    if part == "untrusted":
        return dataset.subset(untrusted).relabel(noisy)
    if len(trusted) == 0:
        return dataset.relabel(noisy)
    positions = np.concatenate([trusted, untrusted])
    labels = np.concatenate([dataset.labels.numpy()[trusted], noisy])
    return dataset.subset(positions).relabel(labels)


# -- estimating C ---------------------------------------------------------------------

def _check_probabilities(probabilities, parameter: str) -> np.ndarray:
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"{parameter} must be a non-empty N×K array, got shape {p.shape}")
    return p


def estimate_forward_matrix(probabilities, percentile: float = 97.0) -> np.ndarray:
    """Forward correction's estimate of C (Patrini et al. 2017, eq. 13–14).

    ``probabilities``: N×K softmax outputs p(ỹ | x) of a network trained on the
    noisy labels. Row ``i`` of the estimate is the softmax row of an "anchor"
    example for class i: following the official code (hendrycks/pre-training
    ``robustness/label_corruption/train_forward.py`` lines 316–320, as
    github.com/mmazeika/glc ``CIFAR/train_forward.py``), the threshold is
    ``np.percentile(p[:, i], percentile, method="higher")`` and the anchor is the
    example with the largest ``p(i|x)`` strictly below it (robust to outliers at
    the very top); ``percentile=100`` takes the plain argmax (the official
    code's rule for every dataset but CIFAR-10, i.e. CIFAR-100). Rows are
    renormalised to sum to 1.

    **Where the official code differs** (issue 27): it takes ``class_probs =
    probs[:, label]``, a numpy *view*, and zeroes the entries at or above the
    threshold through it, so those entries of ``probs`` itself become 0. A later
    class's anchor row is read from that modified ``probs`` and can carry zeros
    in the columns of earlier classes, and the official C-hat rows are not
    renormalised (such a row sums to less than 1). This happens only with the
    percentile rule (the official code: CIFAR-10). Ours reads every anchor row
    from the untouched softmax outputs (a copy of the column is masked), as
    Patrini et al.'s estimator intends. Affected: the Forward rows of Table 1 on
    CIFAR-10, both arms."""
    p = _check_probabilities(probabilities, "probabilities")
    check_range("percentile", percentile, 0.0, 100.0)
    rows = []
    for i in range(p.shape[1]):
        column = p[:, i].copy()
        if percentile < 100:
            threshold = np.percentile(column, percentile, method="higher")
            below = column < threshold
            if below.any():  # all ties at the top → keep the plain argmax
                column[~below] = -np.inf
        rows.append(p[int(np.argmax(column))])
    matrix = np.clip(np.array(rows), 0.0, None)
    return matrix / matrix.sum(axis=1, keepdims=True)


def estimate_glc_matrix(probabilities_on_trusted, trusted_labels, num_classes: int,
                        missing: str = "identity") -> np.ndarray:
    """Gold Loss Correction's estimate of C (Hendrycks et al. 2018, eq. 2).

    ``probabilities_on_trusted``: N×K softmax outputs p(ỹ | x) on the trusted
    examples of a network trained on the untrusted (noisy) data;
    ``trusted_labels``: their clean labels. Row ``i`` = mean softmax over trusted
    examples of clean class ``i`` (the official code's ``np.mean`` rule). A class
    without any trusted example gets an identity row (``missing="identity"``:
    assume it is not corrupted) or a uniform row (``missing="uniform"``); the
    official code would produce NaN there."""
    k = _check_num_classes(num_classes)
    check_choice("missing", missing, MISSING_ROW_RULES)
    p = _check_probabilities(probabilities_on_trusted, "probabilities_on_trusted")
    y = np.asarray(trusted_labels).astype(np.int64)
    if p.shape != (len(y), k):
        raise ValueError(f"probabilities_on_trusted has shape {p.shape}; expected "
                         f"({len(y)}, {k}) for {len(y)} trusted_labels and {k} classes")
    if len(y) and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"trusted_labels must lie in [0, {k - 1}], got range "
                         f"[{y.min()}, {y.max()}]")
    sums = np.zeros((k, k))
    np.add.at(sums, y, p)
    counts = np.bincount(y, minlength=k)
    fallback = np.eye(k) if missing == "identity" else np.full((k, k), 1.0 / k)
    matrix = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], fallback)
    return matrix / matrix.sum(axis=1, keepdims=True)


# -- corrected losses -----------------------------------------------------------------

def forward_corrected_nll(logits: torch.Tensor, noisy_labels: torch.Tensor,
                          matrix) -> torch.Tensor:
    """Per-example −log (softmax(logits) · C)[ỹ] in float32 (nats);
    ``matrix`` is C (K×K, row = clean class). The probability is floored at
    1e-12 so a zero column entry cannot give an infinite loss."""
    c = torch.as_tensor(check_corruption_matrix(matrix, "matrix"), dtype=torch.float32,
                        device=logits.device)
    noisy_probs = F.softmax(logits.float(), dim=1) @ c
    picked = noisy_probs.gather(1, noisy_labels.view(-1, 1)).squeeze(1)
    return -picked.clamp_min(1e-12).log()


@register_objective("forward_corrected")
def forward_corrected(model, batch, *, matrix):
    """Forward-corrected loss (Patrini et al. 2017) with the fixed matrix ``matrix``."""
    logits = model(batch.x)
    loss = weighted_mean(forward_corrected_nll(logits, batch.y, matrix), batch.weight)
    return loss, logits


@register_objective("glc")
def glc(model, batch, *, matrix, num_trusted: int):
    """Gold Loss Correction (Hendrycks et al. 2018): cross-entropy on the trusted
    examples (view positions ``< num_trusted``; see the module docstring) and the
    forward-corrected loss with ``matrix`` on the rest, one forward pass over the
    whole batch, averaged over the batch's examples.

    **Where the official code differs** (issue 27; ``train_glc.py``,
    ``train_phase2``): it splits each batch into its trusted and untrusted
    examples and runs them through the network in two separate forward passes,
    in train mode, so batch norm normalises each part with that part's own
    statistics (and updates its running statistics twice per batch); and it
    divides the summed loss by the nominal batch size (128) also for the last,
    smaller batch of an epoch. Ours runs one pass, so both parts share the
    batch's statistics, and takes the mean over the examples actually in the
    batch. Affected: the GLC rows of Table 1."""
    check_type("num_trusted", num_trusted, (int, np.integer))
    logits = model(batch.x)
    trusted = batch.index.to(logits.device) < int(num_trusted)
    per_example = torch.where(trusted,
                              F.cross_entropy(logits.float(), batch.y, reduction="none"),
                              forward_corrected_nll(logits, batch.y, matrix))
    return weighted_mean(per_example, batch.weight), logits
