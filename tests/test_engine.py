"""The training engine: schedule, optimizer, evaluation helpers."""

import math

import numpy as np
import pytest
import torch

from lib.models import build_model
from lib.presets import Recipe
from lib.training.engine import cosine_lr_factor, error_and_nll, make_optimizer
from lib.training.objectives import get_objective, objective_names


def test_cosine_schedule_endpoints_and_midpoint():
    assert cosine_lr_factor(0, 100, 0.0) == 1.0
    assert math.isclose(cosine_lr_factor(50, 100, 0.0), 0.5)
    assert math.isclose(cosine_lr_factor(100, 100, 1e-5), 1e-5)
    values = [cosine_lr_factor(s, 100, 0.0) for s in range(101)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_optimizer_is_nesterov_sgd_stepped_per_batch():
    model = build_model("wrn-10-1", 10, 1)
    recipe = Recipe(epochs=2, lr=0.1)
    optimizer, scheduler = make_optimizer(model, recipe, steps_per_epoch=5)
    group = optimizer.param_groups[0]
    assert (group["momentum"], group["nesterov"], group["weight_decay"]) == (0.9, True, 5e-4)
    lrs = []
    for _ in range(10):
        optimizer.step()
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    assert math.isclose(lrs[4], 0.05, rel_tol=1e-3)  # half-way through 10 batches
    assert lrs[-1] < 1e-5


def test_last_layer_recipe_only_optimizes_the_classifier():
    model = build_model("wrn-10-1", 10, 1)
    optimizer, _ = make_optimizer(model, Recipe(epochs=1, lr=0.1, tune="last_layer"), 1)
    params = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert params == {id(p) for p in model.classifier.parameters()}


def test_error_and_nll_against_numpy():
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    labels = np.array([0, 0, 0])
    error, nll = error_and_nll(logits, labels)
    assert math.isclose(error, 1 / 3)
    log_probs = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert math.isclose(nll, -log_probs[:, 0].mean(), rel_tol=1e-9)


def test_objective_registry():
    assert "cross_entropy" in objective_names()
    with pytest.raises(ValueError, match="objective='nope'"):
        get_objective("nope")


def test_weighted_cross_entropy_uses_weights():
    from lib.data.loader import Batch
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    x = torch.rand(2, 1, 2, 2)
    y = torch.tensor([0, 1])
    loss_fn = get_objective("cross_entropy")
    plain, _ = loss_fn(model, Batch(x, y, None, torch.arange(2)))
    only_first, logits = loss_fn(model, Batch(x, y, torch.tensor([1.0, 0.0]), torch.arange(2)))
    expected = torch.nn.functional.cross_entropy(logits[:1], y[:1])
    assert torch.isclose(only_first, expected)
    assert not torch.isclose(plain, only_first)


def _tiny_data(n=12, k=3):
    from lib.data.base import ImageDataset
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 1, 8, 8), dtype=torch.uint8, generator=generator)
    return ImageDataset(images, torch.arange(n) % k, k)


def test_predict_logits_runs_without_autocast_and_training_with_it(autocast_calls):
    """Evaluation is float32 on every device (no autocast); training enters it."""
    from lib.data.loader import DeviceLoader
    from lib.training.engine import predict_logits, train_one_epoch

    entered = autocast_calls
    data = _tiny_data()
    model = build_model("wrn-10-1", 3, 1)
    logits = predict_logits(model, data, torch.device("cpu"), batch_size=5)
    assert logits.shape == (12, 3) and logits.dtype == np.float32
    assert entered == []
    recipe = Recipe(epochs=1, lr=0.01)
    optimizer, scheduler = make_optimizer(model, recipe, steps_per_epoch=3)
    loader = DeviceLoader(data, 4, shuffle=True, augment=False, device=torch.device("cpu"))
    train_one_epoch(model, loader, optimizer, scheduler, recipe, torch.device("cpu"))
    assert entered  # the record works: training goes through autocast
