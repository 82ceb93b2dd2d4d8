"""Power-law class imbalance and its baselines (paper §3.2)."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lib.data.base import ImageDataset
from lib.data.loader import Batch
from lib.imbalance import (class_priors, class_weights, imbalanced_positions,
                           inverse_frequency_weights, minority_classes, oversample,
                           power_law_class_sizes, power_law_imbalance, smote)
from lib.training.objectives import get_objective, objective_names
from lib.training.run_config import transform_names

GAMMAS = (0.2, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0)  # Table 2

# CIFAR-10, (a, b) = (5000, 250): the values quoted in lib/imbalance.py's docstring.
CIFAR10_SIZES = {
    0.2: [5000, 858, 557, 439, 375, 333, 304, 282, 264, 250],
    2.0: [5000, 3173, 1972, 1289, 892, 648, 490, 382, 306, 250],
}


def imbalanced_dataset(sizes=(30, 12, 6, 3), seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(sizes)), sizes)
    rng.shuffle(labels)
    images = rng.integers(0, 256, size=(len(labels), 1, 3, 3), dtype=np.uint8)
    return ImageDataset(images, labels, len(sizes))


@pytest.mark.parametrize("gamma", sorted(CIFAR10_SIZES))
def test_cifar10_sizes(gamma):
    assert power_law_class_sizes(10, gamma, 5000, 250) == CIFAR10_SIZES[gamma]


@pytest.mark.parametrize("k,a,b", [(10, 5000, 250), (100, 500, 25), (2, 10, 3)])
@pytest.mark.parametrize("gamma", GAMMAS)
def test_endpoints_and_monotone(k, a, b, gamma):
    sizes = power_law_class_sizes(k, gamma, a, b)
    assert len(sizes) == k and sizes[0] == a and sizes[-1] == b
    assert all(x >= y for x, y in itertools.pairwise(sizes))
    assert all(isinstance(n, int) for n in sizes)


def test_smaller_gamma_is_more_imbalanced():
    shares = [power_law_class_sizes(10, g, 5000, 250)[0] / sum(power_law_class_sizes(10, g, 5000, 250))
              for g in GAMMAS]
    assert all(x > y for x, y in itertools.pairwise(shares))


@pytest.mark.parametrize("kwargs,match", [
    ({"gamma": 0.0}, r"gamma=0.0 is out of range; valid: \(0, inf\)"),
    ({"gamma": -1.0}, r"gamma=-1.0"),
    ({"largest": 250, "smallest": 250}, r"largest=250 is out of range; valid: \[251, inf\]"),
    ({"smallest": 0}, r"smallest=0 is out of range"),
    ({"num_classes": 1}, r"num_classes=1 is out of range; valid: \[2, inf\]"),
])
def test_bad_inputs_name_parameter_value_and_range(kwargs, match):
    args = {"num_classes": 10, "gamma": 1.0, "largest": 5000, "smallest": 250} | kwargs
    with pytest.raises(ValueError, match=match):
        power_law_class_sizes(**args)


def test_minority_classes_are_below_the_mean():
    np.testing.assert_array_equal(minority_classes([10, 6, 5, 3]), [2, 3])  # mean 6
    np.testing.assert_array_equal(minority_classes(CIFAR10_SIZES[2.0]), range(3, 10))
    assert len(minority_classes([5, 5, 5])) == 0


def test_imbalanced_positions_draw_the_requested_sizes_reproducibly():
    labels = np.repeat(np.arange(3), 20)
    pos = imbalanced_positions(labels, [20, 7, 2], seed=1)
    np.testing.assert_array_equal(np.bincount(labels[pos]), [20, 7, 2])
    np.testing.assert_array_equal(pos, imbalanced_positions(labels, [20, 7, 2], seed=1))
    assert not np.array_equal(pos, imbalanced_positions(labels, [20, 7, 2], seed=2))
    with pytest.raises(ValueError, match=r"class_sizes\[1\]=21.*has 20 examples"):
        imbalanced_positions(labels, [20, 21, 2], seed=1)


def test_transforms_are_registered():
    assert {"power_law_imbalance", "oversample", "smote", "class_weights"} <= set(transform_names())
    assert "logit_adjusted" in objective_names()


def test_power_law_transform_is_a_view():
    ds = imbalanced_dataset(sizes=(40, 40, 40, 40))
    view = power_law_imbalance(ds, seed=0, gamma=0.5, largest=40, smallest=4)
    np.testing.assert_array_equal(view.class_counts(), power_law_class_sizes(4, 0.5, 40, 4))
    assert view.base_images is ds.base_images


def test_oversample_balances_by_replication_and_shares_storage():
    ds = imbalanced_dataset()
    view = oversample(ds, seed=0)
    np.testing.assert_array_equal(view.class_counts(), [30, 30, 30, 30])
    assert view.base_images is ds.base_images
    np.testing.assert_array_equal(view.indices[:len(ds)].numpy(), np.arange(len(ds)))
    extra = view.indices[len(ds):].numpy()
    np.testing.assert_array_equal(ds.labels.numpy()[extra], view.labels[len(ds):].numpy())
    np.testing.assert_array_equal(view.indices, oversample(ds, seed=0).indices)


def test_smote_balances_with_new_uint8_images_between_neighbours():
    ds = imbalanced_dataset()
    out = smote(ds, seed=0)
    np.testing.assert_array_equal(out.class_counts(), [30, 30, 30, 30])
    assert out.images.dtype == torch.uint8 and out.shape == ds.shape
    torch.testing.assert_close(out.images[:len(ds)], ds.images)  # originals first
    new_x, new_y = out.images[len(ds):].numpy(), out.labels[len(ds):].numpy()
    for c in range(1, 4):  # interpolations stay inside the class's per-pixel range
        own = ds.images.numpy()[ds.labels.numpy() == c]
        assert (new_x[new_y == c] >= own.min(0)).all() and (new_x[new_y == c] <= own.max(0)).all()
    torch.testing.assert_close(smote(ds, seed=0).images, out.images)


def test_smote_refuses_weights_and_too_small_classes():
    with pytest.raises(ValueError, match="weights"):
        smote(class_weights(imbalanced_dataset(), seed=0), seed=0)
    with pytest.raises(ValueError, match="at least 2 examples"):
        smote(imbalanced_dataset(sizes=(5, 1)), seed=0)


def test_class_weights_are_inverse_frequency_with_mean_one():
    ds = imbalanced_dataset()
    weighted = class_weights(ds, seed=0)
    w = weighted.weights.numpy()
    assert w.mean() == pytest.approx(1.0)
    per_class = inverse_frequency_weights(ds.labels, 4)
    np.testing.assert_allclose(per_class * np.array([30, 12, 6, 3]), len(ds) / 4)
    np.testing.assert_allclose(w, per_class[ds.labels.numpy()], rtol=1e-6)
    assert weighted.base_images is ds.base_images


def test_logit_adjusted_loss():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    batch = Batch(torch.rand(8, 1, 2, 2), torch.randint(0, 3, (8,)), None, torch.arange(8))
    loss_fn = get_objective("logit_adjusted")
    uniform, logits = loss_fn(model, batch, priors=(1, 1, 1))
    torch.testing.assert_close(uniform, F.cross_entropy(logits, batch.y))
    priors = class_priors([60, 30, 10])
    loss, logits = loss_fn(model, batch, priors=priors, tau=2.0)
    shifted = logits + 2.0 * torch.log(torch.tensor(priors))
    torch.testing.assert_close(loss, F.cross_entropy(shifted, batch.y))
    with pytest.raises(ValueError, match="priors"):
        loss_fn(model, batch, priors=(1, 0, 1))
