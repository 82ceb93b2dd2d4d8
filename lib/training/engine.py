"""The training loop shared by every recipe (paper §3–4): SGD with Nesterov
momentum, weight decay, a cosine learning rate stepped per batch, batches from
the on-device loader.

Changing anything here that alters the trained weights must bump
``ENGINE_VERSION``: it is part of every run-cache key.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from lib.data.base import ImageDataset
from lib.data.loader import DeviceLoader
from lib.metrics import (
    calibration_error,
    negative_log_likelihood,
    softmax,
    top1_error,
    top1_wrong,
)
from lib.specs import Recipe
from lib.training.objectives import get_objective
from lib.training.precision import autocast, tf32, training_tf32

ENGINE_VERSION = 1

# Floor of the cosine schedule, as a fraction of the initial learning rate.
_COSINE_FLOOR = 1e-6


def cosine_lr_factor(step: int, total_steps: int, floor: float) -> float:
    """Cosine annealing from 1 to ``floor`` over ``total_steps`` batches."""
    progress = min(step, total_steps) / max(total_steps, 1)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def trainable_parameters(model: nn.Module, tune: str) -> list[nn.Parameter]:
    """Every parameter (``tune="all"``) or only the classifier's (``"last_layer"``)."""
    if tune == "last_layer":
        for p in model.parameters():
            p.requires_grad_(False)
        for p in model.classifier.parameters():
            p.requires_grad_(True)
        return list(model.classifier.parameters())
    for p in model.parameters():
        p.requires_grad_(True)
    return list(model.parameters())


def make_optimizer(model: nn.Module, recipe: Recipe, steps_per_epoch: int):
    """SGD (Nesterov) and a per-batch cosine ``LambdaLR`` for ``recipe``."""
    params = trainable_parameters(model, recipe.tune)
    optimizer = torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay, nesterov=recipe.nesterov)
    total = recipe.epochs * steps_per_epoch
    floor = min(_COSINE_FLOOR / recipe.lr, 1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: cosine_lr_factor(step, total, floor))
    return optimizer, scheduler


def set_train_mode(model: nn.Module, tune: str) -> None:
    """Train mode; when only the last layer is tuned, the frozen backbone
    (batch-norm statistics included) stays in eval mode."""
    model.train()
    if tune == "last_layer":
        for name, module in model.named_modules():
            if name and not name.startswith("classifier"):
                module.eval()


@dataclass
class EpochRecord:
    """One epoch of training: means over its batches, and optional test error."""

    epoch: int
    loss: float
    accuracy: float
    lr: float
    images_per_s: float
    seconds: float
    test_error: float | None = None
    test_nll: float | None = None
    test_rms: float | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def train_one_epoch(model, loader: DeviceLoader, optimizer, scheduler, recipe: Recipe,
                    device: torch.device, objective: str = "cross_entropy",
                    objective_params: dict | None = None,
                    on_batch: Callable[[int, int, torch.Tensor, torch.Tensor], None] | None = None,
                    cpu_autocast: bool = False):
    """One pass over ``loader``; returns (mean loss, accuracy, images/s, seconds).
    The forward pass runs under bf16 autocast on CUDA, and on the CPU when
    ``cpu_autocast`` (:func:`lib.training.precision.autocast`); TF32 is allowed
    on CUDA (:func:`lib.training.precision.training_tf32`)."""
    loss_fn = get_objective(objective)
    params = objective_params or {}
    set_train_mode(model, recipe.tune)
    total_loss = torch.zeros((), device=device)
    total_correct = torch.zeros((), device=device, dtype=torch.int64)
    seen = 0
    start = time.perf_counter()
    for i, batch in enumerate(loader):
        with tf32(training_tf32(device)):
            with autocast(device, cpu_autocast):
                loss, logits = loss_fn(model, batch, **params)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        scheduler.step()
        n = len(batch.y)
        total_loss += loss.detach() * n
        total_correct += (~top1_wrong(logits.detach(), batch.y)).sum()
        seen += n
        if on_batch is not None:
            on_batch(i, seen, loss.detach(), total_correct)
    seconds = time.perf_counter() - start
    return (float(total_loss) / max(seen, 1), float(total_correct) / max(seen, 1),
            seen / max(seconds, 1e-9), seconds)


@torch.no_grad()
def predict_logits(model: nn.Module, dataset: ImageDataset, device: torch.device,
                   batch_size: int = 500) -> np.ndarray:
    """Logits (float32, N×K) of ``model`` in eval mode for every example, in order.

    Computed in float32 without autocast on every device: bf16 autocast is for
    training only (:func:`train_one_epoch`), so the test predictions, the OOD
    scores and the estimated corruption matrices are float32 (the official
    code evaluates in float32 too), with TF32 off on CUDA
    (:func:`lib.training.precision.tf32`; torch allows it for cuDNN
    convolutions by default)."""
    was_training = model.training
    model.eval()
    loader = DeviceLoader(dataset, batch_size, shuffle=False, augment=False, device=device,
                          channels_last=True)
    outputs = []
    with tf32(False):
        for batch in loader:
            outputs.append(model(batch.x).float().cpu())
    model.train(was_training)
    return torch.cat(outputs).numpy() if outputs else np.zeros((0, 0), np.float32)


def tracked_metrics(logits: np.ndarray, labels) -> dict:
    """What a tracked run records on its test set after every epoch: top-1
    error, NLL, and RMS calibration error (paper §4.2, Figure 4), as fractions."""
    error, nll = error_and_nll(logits, labels)
    probabilities = softmax(logits)
    correct = ~top1_wrong(logits, labels)
    rms = calibration_error(probabilities.max(1), correct, norm="l2")
    return {"test_error": error, "test_nll": nll, "test_rms": rms}


def error_and_nll(logits: np.ndarray, labels) -> tuple[float, float]:
    """Top-1 error (fraction) and mean negative log-likelihood (nats)."""
    labels = np.asarray(labels)
    return top1_error(logits, labels), negative_log_likelihood(logits, labels)
