"""Errors under class imbalance (paper §3.2, Table 2, Figure 3): the minority
classes of a training set and the total, minority and per-class top-1 test
error (percent) on a balanced test set."""

from __future__ import annotations

import numpy as np

from lib.metrics.classification import top1_wrong


def minority_classes(class_sizes) -> np.ndarray:
    """Indices of the classes smaller than the mean class size (paper §3.2)."""
    sizes = np.asarray(class_sizes, dtype=np.float64)
    return np.flatnonzero(sizes < sizes.mean())


def imbalance_errors(logits, labels, class_sizes) -> dict:
    """Total, minority and per-class top-1 test error (percent) of ``logits``,
    with the number of test examples behind each (``n``, ``minority_n``,
    ``class_n``). ``class_sizes`` are the training sizes (minority: below their
    mean); a class without test examples has error ``None``."""
    labels = np.asarray(labels)
    wrong = top1_wrong(logits, labels)
    in_minority = np.isin(labels, minority_classes(class_sizes))
    counts = [int(np.sum(labels == c)) for c in range(len(class_sizes))]
    return {"error": 100 * float(wrong.mean()), "n": int(len(labels)),
            "minority_error": 100 * float(wrong[in_minority].mean()),
            "minority_n": int(in_minority.sum()),
            "class_error": [100 * float(wrong[labels == c].mean()) if k else None
                            for c, k in enumerate(counts)],
            "class_n": counts}
