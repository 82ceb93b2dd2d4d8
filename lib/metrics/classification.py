"""Top-1 classification error, the one definition every section uses (paper
§3, §4: "test error"). Fractions in [0, 1]; multiply by 100 for percent."""

from __future__ import annotations

import torch

from lib.metrics._inputs import to_numpy


def top1_wrong(logits, labels):
    """Boolean array: whether the arg-max of each row of ``logits`` (N×K
    scores or probabilities) differs from its label. Two torch tensors give a
    torch tensor on their device (no copy to the host: training loops count
    with it); anything else a numpy array."""
    if isinstance(logits, torch.Tensor) and isinstance(labels, torch.Tensor):
        if logits.ndim != 2 or len(logits) != len(labels):
            raise ValueError(f"logits must be N×K with one label per row; got logits "
                             f"{tuple(logits.shape)} and {len(labels)} labels")
        return logits.argmax(1) != labels
    logits, labels = to_numpy(logits, "logits"), to_numpy(labels, "labels")
    if logits.ndim != 2 or len(logits) != len(labels):
        raise ValueError(f"logits must be N×K with one label per row; got logits "
                         f"{logits.shape} and {len(labels)} labels")
    return logits.argmax(1) != labels


def top1_error(logits, labels) -> float:
    """Fraction of examples whose arg-max class is wrong (0 for an empty set is
    refused: an error of nothing is undefined)."""
    wrong = top1_wrong(logits, labels)
    if isinstance(wrong, torch.Tensor):
        wrong = wrong.cpu().numpy()
    if len(wrong) == 0:
        raise ValueError("top1_error needs at least one example")
    return float(wrong.mean())
