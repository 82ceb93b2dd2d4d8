"""Label corruption, trusted splits, C estimators and corrected losses (paper §3.1)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lib.data.base import ImageDataset
from lib.data.loader import Batch
from lib.noise import (corrupt_labels, corrupt_labels_transform, estimate_forward_matrix,
                       estimate_glc_matrix, flip_corruption_matrix, forward_corrected_nll,
                       matrix_param, split_corrupted, trusted_split,
                       uniform_corruption_matrix)
from lib.training.objectives import get_objective, objective_names
from lib.training.run_config import transform_names


def tiny_dataset(n_per_class=40, k=4, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(k), n_per_class)
    rng.shuffle(labels)
    images = rng.integers(0, 256, size=(len(labels), 1, 2, 2), dtype=np.uint8)
    return ImageDataset(images, labels, k)


def random_stochastic(k, seed):
    return np.random.default_rng(seed).dirichlet(np.ones(k), size=k)


# -- matrices ---------------------------------------------------------------------------

@pytest.mark.parametrize("k,s", [(2, 0.0), (10, 0.3), (10, 1.0), (100, 0.7)])
def test_uniform_matrix_formula(k, s):
    c = uniform_corruption_matrix(k, s)
    assert c.shape == (k, k)
    np.testing.assert_allclose(c, (1 - s) * np.eye(k) + s * np.ones((k, k)) / k)
    np.testing.assert_allclose(c.sum(1), 1.0)
    assert c.min() >= 0


def test_flip_matrix_is_a_seeded_derangement():
    c = flip_corruption_matrix(10, 0.4, seed=3)
    np.testing.assert_allclose(c.sum(1), 1.0)
    np.testing.assert_allclose(np.diag(c), 0.6)
    off = c - np.diag(np.diag(c))
    assert ((off > 0).sum(1) == 1).all()          # one target per class
    assert sorted(off.argmax(1)) == list(range(10))  # a permutation
    np.testing.assert_array_equal(c, flip_corruption_matrix(10, 0.4, seed=3))
    assert any(not np.array_equal(c, flip_corruption_matrix(10, 0.4, seed=s)) for s in range(4, 8))


@pytest.mark.parametrize("strength", [-0.1, 1.5])
def test_bad_strength_names_parameter_value_and_range(strength):
    with pytest.raises(ValueError, match=rf"strength={strength}.*\[0.0, 1.0\]"):
        uniform_corruption_matrix(10, strength)


# -- corrupt_labels ---------------------------------------------------------------------

@pytest.mark.parametrize("matrix", [uniform_corruption_matrix(5, 0.6),
                                    flip_corruption_matrix(5, 0.3, seed=0),
                                    random_stochastic(5, seed=1)],
                         ids=["uniform", "flip", "dirichlet"])
def test_empirical_transitions_match_the_matrix(matrix):
    k, per_class = 5, 40_000
    labels = np.repeat(np.arange(k), per_class)
    noisy = corrupt_labels(labels, matrix, seed=0)
    assert noisy.dtype == np.int64 and noisy.shape == labels.shape
    counts = np.zeros((k, k))
    np.add.at(counts, (labels, noisy), 1)
    np.testing.assert_allclose(counts / per_class, matrix, atol=0.01)
    assert np.all(counts[matrix == 0] == 0)  # impossible transitions never happen


def test_corruption_is_reproducible_and_seed_dependent():
    labels = np.arange(1000) % 10
    c = uniform_corruption_matrix(10, 0.5)
    a = corrupt_labels(labels, c, seed=1)
    np.testing.assert_array_equal(a, corrupt_labels(torch.as_tensor(labels), c, seed=1))
    assert (a != corrupt_labels(labels, c, seed=2)).mean() > 0.2


def test_zero_strength_leaves_labels():
    labels = np.arange(500) % 7
    np.testing.assert_array_equal(corrupt_labels(labels, uniform_corruption_matrix(7, 0.0), 0),
                                  labels)


@pytest.mark.parametrize("matrix,match", [
    (np.ones((2, 3)) / 3, "square"),
    (np.array([[1.5, -0.5], [0.0, 1.0]]), "non-negative"),
    (np.array([[0.5, 0.4], [0.0, 1.0]]), "row 0 sums"),
])
def test_corrupt_labels_validates_the_matrix(matrix, match):
    with pytest.raises(ValueError, match=match):
        corrupt_labels([0, 1], matrix, 0)


def test_corrupt_labels_validates_labels():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\]"):
        corrupt_labels([0, 3], uniform_corruption_matrix(3, 0.1), 0)


# -- trusted split and the transform -----------------------------------------------------

def test_trusted_split_is_stratified_disjoint_and_complete():
    labels = np.repeat(np.arange(4), [100, 200, 300, 400])
    trusted, untrusted = trusted_split(labels, 0.1, seed=0)
    assert len(trusted) == 100
    np.testing.assert_array_equal(np.bincount(labels[trusted]), [10, 20, 30, 40])
    np.testing.assert_array_equal(np.sort(np.concatenate([trusted, untrusted])), np.arange(1000))
    a, _ = trusted_split(labels, 0.1, seed=0)
    np.testing.assert_array_equal(trusted, a)
    assert len(trusted_split(labels, 0.0, seed=0)[0]) == 0


def test_transform_keeps_trusted_labels_clean_and_puts_them_first():
    ds = tiny_dataset()
    view = corrupt_labels_transform(ds, seed=0, kind="uniform", strength=1.0, trusted_fraction=0.25)
    trusted, untrusted = trusted_split(ds.labels, 0.25, seed=0)
    n = len(trusted)
    assert len(view) == len(ds) and view.base_images is ds.base_images  # a view
    np.testing.assert_array_equal(view.indices[:n].numpy(), trusted)
    np.testing.assert_array_equal(view.labels[:n].numpy(), ds.labels.numpy()[trusted])
    changed = (view.labels[n:].numpy() != ds.labels.numpy()[untrusted]).mean()
    assert 0.5 < changed < 0.95  # s = 1: about 1 − 1/K of the untrusted labels change
    again = corrupt_labels_transform(ds, seed=0, kind="uniform", strength=1.0,
                                     trusted_fraction=0.25)
    np.testing.assert_array_equal(view.labels, again.labels)
    gold, noisy = split_corrupted(ds, "uniform", 1.0, 0.25, seed=0)
    np.testing.assert_array_equal(noisy.labels, view.labels[n:])
    only = corrupt_labels_transform(ds, seed=0, kind="uniform", strength=1.0,
                                    trusted_fraction=0.25, part="untrusted")
    np.testing.assert_array_equal(only.labels, noisy.labels)
    assert len(gold) == n


def test_transform_without_trust_is_a_relabelling_in_order():
    ds = tiny_dataset()
    view = corrupt_labels_transform(ds, seed=5, kind="flip", strength=0.5)
    assert view.indices is None and len(view) == len(ds)
    assert 0.3 < (view.labels != ds.labels).float().mean() < 0.7


def test_transform_and_objectives_are_registered():
    assert "corrupt_labels" in transform_names()
    assert {"forward_corrected", "glc"} <= set(objective_names())


def test_unknown_kind_names_the_choices():
    with pytest.raises(ValueError, match=r"kind='bogus'.*'uniform', 'flip'"):
        corrupt_labels_transform(tiny_dataset(), seed=0, kind="bogus", strength=0.1)
    with pytest.raises(ValueError, match=r"part='gold'.*'all', 'trusted', 'untrusted'"):
        corrupt_labels_transform(tiny_dataset(), seed=0, strength=0.1, part="gold")


# -- estimators ----------------------------------------------------------------------------

def test_forward_estimator_recovers_a_known_matrix():
    rng = np.random.default_rng(0)
    k = 4
    c = 0.6 * np.eye(k) + 0.4 * rng.dirichlet(np.ones(k), size=k)  # diagonally dominant
    anchors = []
    for i in range(k):  # 6% of the data per class (> the 3% cut): near-copies of row i
        eps = rng.uniform(0, 0.01, size=(600, 1))
        anchors.append((1 - eps) * c[i] + eps / k)
    mixtures = rng.dirichlet(np.ones(k), size=9000) @ c  # p(i|x) well below c[i, i]
    probs = np.concatenate(anchors + [mixtures])
    estimate = estimate_forward_matrix(rng.permutation(probs), percentile=97)
    np.testing.assert_allclose(estimate, c, atol=0.01)
    np.testing.assert_allclose(estimate.sum(1), 1.0)
    np.testing.assert_allclose(estimate_forward_matrix(probs, percentile=100), c, atol=0.01)


def test_forward_anchor_rules_on_a_small_example():
    """percentile=100: the row of the plain argmax of p(i|x) (the official rule
    for CIFAR-100); 97: the largest p(i|x) strictly below the 'higher' 97th
    percentile (the official rule for CIFAR-10, train_forward.py lines 316-320)."""
    column = np.linspace(0.01, 0.99, 100)  # p(class 0 | x), increasing
    probs = np.stack([column, 1 - column], axis=1)
    plain = estimate_forward_matrix(probs, percentile=100)
    np.testing.assert_allclose(plain[0], probs[99])  # the top example
    np.testing.assert_allclose(plain[1], probs[0])
    threshold = np.percentile(column, 97, method="higher")
    anchor = int(np.flatnonzero(column < threshold)[-1])
    assert anchor < 99
    np.testing.assert_allclose(estimate_forward_matrix(probs, percentile=97)[0], probs[anchor])


def test_glc_estimator_recovers_a_known_matrix_and_fills_missing_rows():
    rng = np.random.default_rng(0)
    k = 5
    c = random_stochastic(k, seed=2)
    labels = rng.integers(0, k - 1, size=4000)  # class k−1 has no trusted example
    noise = rng.normal(0, 0.02, size=(len(labels), k))
    probs = np.clip(c[labels] + noise, 1e-6, None)
    probs /= probs.sum(1, keepdims=True)
    estimate = estimate_glc_matrix(probs, labels, k)
    np.testing.assert_allclose(estimate[:-1], c[:-1], atol=0.01)
    np.testing.assert_array_equal(estimate[-1], np.eye(k)[-1])
    uniform = estimate_glc_matrix(probs, labels, k, missing="uniform")
    np.testing.assert_allclose(uniform[-1], 1 / k)
    with pytest.raises(ValueError, match="missing='nan'"):
        estimate_glc_matrix(probs, labels, k, missing="nan")


# -- losses --------------------------------------------------------------------------------

def _batch(n=12, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 2, 2, generator=g)
    y = torch.randint(0, k, (n,), generator=g)
    return Batch(x, y, None, torch.arange(n))


def _model(k=3):
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, k))


def test_forward_loss_is_the_nll_of_the_corrupted_posterior():
    model, batch = _model(), _batch()
    c = uniform_corruption_matrix(3, 0.5)
    loss, logits = get_objective("forward_corrected")(model, batch, matrix=matrix_param(c))
    expected = -torch.log((F.softmax(logits, 1) @ torch.tensor(c, dtype=torch.float32))
                          [torch.arange(len(batch.y)), batch.y]).mean()
    torch.testing.assert_close(loss, expected)
    identity, _ = get_objective("forward_corrected")(model, batch, matrix=matrix_param(np.eye(3)))
    torch.testing.assert_close(identity, F.cross_entropy(logits, batch.y))
    loss.backward()


def test_glc_loss_uses_cross_entropy_on_trusted_positions_only():
    model, batch = _model(), _batch()
    c = matrix_param(flip_corruption_matrix(3, 0.4, seed=0))
    loss, logits = get_objective("glc")(model, batch, matrix=c, num_trusted=5)
    per = forward_corrected_nll(logits, batch.y, c)
    per[:5] = F.cross_entropy(logits[:5], batch.y[:5], reduction="none")
    torch.testing.assert_close(loss, per.mean())
    none, _ = get_objective("glc")(model, batch, matrix=c, num_trusted=0)
    forward, _ = get_objective("forward_corrected")(model, batch, matrix=c)
    torch.testing.assert_close(none, forward)


def test_matrix_param_is_hashable_and_exact():
    c = flip_corruption_matrix(4, 0.3, seed=1)
    param = matrix_param(c)
    hash(param)
    np.testing.assert_array_equal(np.array(param), c)
