"""Contract tests over every registry (issue 24, item 3): each registry has
its ``list_*()`` and names a bad value with its parameter and the valid
choices; every OOD score, calibration method, architecture, attack, preset and
release keeps the promise of its kind. A newly registered entry is tested by
being registered. (Datasets, objectives, transforms, sections, section methods
and claims: tests/test_contracts.py.)"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lib.attacks import ATTACKS, list_attacks
from lib.data import list_datasets
from lib.data.registry import _BUILDERS as DATASETS
from lib.evaluation.calibration import calibration_rows
from lib.evaluation.ood import SCORES
from lib.metrics import (
    CALIBRATION_METHODS,
    OOD_SCORES,
    list_calibration_methods,
    list_ood_scores,
    negative_log_likelihood,
    ood_metrics,
    ood_score,
    softmax,
)
from lib.models import ARCHITECTURES, build_model, list_architectures
from lib.presets import PRESETS, list_presets
from lib.releases import OFFICIAL_REPO, RELEASES, get_release, list_releases, released_run
from lib.sections import SECTIONS, list_methods, list_sections, section_methods
from lib.sections.ood import OODSettings
from lib.training.objectives import OBJECTIVES, list_objectives
from lib.training.run_config import TRANSFORMS, list_transforms

# (registry, its list_*() function, the parameter its errors name)
REGISTRIES = {
    "datasets": (DATASETS, list_datasets, "name"),
    "presets": (PRESETS, list_presets, "preset"),
    "architectures": (ARCHITECTURES, list_architectures, "architecture"),
    "objectives": (OBJECTIVES, list_objectives, "objective"),
    "transforms": (TRANSFORMS, list_transforms, "transform"),
    "attacks": (ATTACKS, list_attacks, "attack"),
    "ood scores": (OOD_SCORES, list_ood_scores, "score"),
    "calibration methods": (CALIBRATION_METHODS, list_calibration_methods, "calibration"),
    "sections": (SECTIONS, list_sections, "section"),
    "releases": (RELEASES, list_releases, "name"),
    **{f"{section} methods": (section_methods(section), lambda s=section: list_methods(s),
                              f"{section} method")
       for section in list_sections() if list_methods(section)},
}


def test_every_extension_point_has_a_registry():
    assert {"label_noise methods", "imbalance methods", "adversarial methods"} <= set(REGISTRIES)


@pytest.mark.parametrize("kind", REGISTRIES)
def test_registry_lists_its_entries_and_names_a_bad_value(kind):
    registry, lister, parameter = REGISTRIES[kind]
    names = lister()
    assert names and all(isinstance(n, str) for n in names) and len(set(names)) == len(names)
    assert set(names) == set(registry) and len(registry) == len(names)
    assert all(registry[n] is registry.get(n) for n in names)
    assert dict(registry).keys() == set(names)
    with pytest.raises(ValueError) as error:
        registry.get("no-such-entry")
    message = str(error.value)
    assert message.startswith(f"{parameter}='no-such-entry' is not valid; choose one of: ")
    assert all(repr(n) in message for n in names)


# -- OOD scores ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", list_ood_scores())
def test_ood_score_gives_one_anomaly_score_per_example(name):
    """logits (N, K) -> (N,), the same from numpy and torch, and higher for
    the less confident input (OOD is the positive class, §4.1)."""
    score = OOD_SCORES[name]
    logits = np.random.default_rng(0).normal(size=(8, 5)).astype(np.float32)
    values = np.asarray(score(logits))
    assert values.shape == (8,) and np.isfinite(values).all()
    np.testing.assert_allclose(np.asarray(score(torch.from_numpy(logits))), values, rtol=1e-6)
    confident, flat = np.eye(5)[[0]] * 10.0, np.zeros((1, 5))
    assert score(confident)[0] < score(flat)[0]


@pytest.mark.parametrize("name", list_ood_scores())
def test_ood_score_separates_confident_from_flat_logits(name):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 200)
    in_logits = rng.normal(0, 0.1, (200, 10)) + 8.0 * np.eye(10)[labels]
    out_logits = rng.normal(0, 0.1, (300, 10))
    result = ood_metrics(OOD_SCORES[name](in_logits), OOD_SCORES[name](out_logits))
    assert result == {"auroc": 1.0, "aupr": 1.0, "fpr": 0.0}


def test_a_new_ood_score_is_one_decorated_function(monkeypatch):
    """Registered in the metrics layer, it is what the evaluation scores by
    (its SCORES is the registry) and among the OOD page's default scores."""
    monkeypatch.setattr(OOD_SCORES, "_items", dict(OOD_SCORES._items))

    @ood_score("negative_margin")
    def negative_margin(logits):
        top2 = np.sort(np.asarray(logits), axis=1)[:, -2:]
        return top2[:, 0] - top2[:, 1]

    assert SCORES is OOD_SCORES and SCORES["negative_margin"] is negative_margin
    assert list_ood_scores()[-1] == "negative_margin"
    settings = OODSettings(targets=("fashion_mnist",), ood_sets=("gaussian",), ood_samples=10)
    assert settings.scores == tuple(list_ood_scores()) and settings.scores[0] == "msp"
    with pytest.raises(ValueError, match="score='nope' is not valid"):
        OODSettings(targets=(), ood_sets=("gaussian",), ood_samples=10, scores=("msp", "nope"))


# -- calibration methods -------------------------------------------------------------------

def _overconfident(n: int, seed: int):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    noisy = np.where(rng.random(n) < 0.3, rng.integers(0, 4, n), labels)  # 30% resampled
    return 6.0 * np.eye(4)[noisy] + rng.normal(0, 1, (n, 4)), labels


@pytest.mark.parametrize("name", list_calibration_methods())
def test_calibration_method_gives_probabilities(name):
    """``fit(holdout logits, labels) -> T > 0``; softmax(logits, T) are
    probabilities with the same top-1 and no worse a held-out NLL than T = 1."""
    holdout, holdout_labels = _overconfident(400, 0)
    test, _ = _overconfident(100, 1)
    temperature = CALIBRATION_METHODS[name](holdout, holdout_labels)
    assert isinstance(temperature, float) and temperature > 0
    probabilities = softmax(test, temperature)
    assert probabilities.shape == test.shape and (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(1), 1.0, rtol=1e-6)
    assert (probabilities.argmax(1) == test.argmax(1)).all()
    assert (negative_log_likelihood(holdout / temperature, holdout_labels)
            <= negative_log_likelihood(holdout, holdout_labels) + 1e-9)


def test_calibration_rows_cover_every_method():
    test, labels = _overconfident(300, 1)
    holdout, holdout_labels = _overconfident(400, 0)
    assert {r["calibration"] for r in calibration_rows(test, labels)} == {"raw"}
    rows = calibration_rows(test, labels, holdout, holdout_labels)
    assert [c for c in dict.fromkeys(r["calibration"] for r in rows)] == list_calibration_methods()


# -- architectures ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", list_architectures())
def test_architecture_builds_and_runs_a_forward_pass(name):
    depth, width = ARCHITECTURES[name]
    assert (depth - 4) % 6 == 0 and width >= 1  # a WRN-depth-width (Zagoruyko & Komodakis)
    assert name == f"wrn-{depth}-{width}"
    torch.manual_seed(0)
    model = build_model(name, num_classes=3, in_channels=1).eval()
    assert (model.depth, model.widen_factor, model.num_features) == (depth, width, 64 * width)
    convolutions = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert sum(m.kernel_size == (3, 3) for m in convolutions) == depth - 3  # stem + 2 per block
    with torch.no_grad():
        logits = model(torch.rand(2, 1, 16, 16))
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()


# -- attacks --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list_attacks())
def test_attack_stays_in_the_eps_ball_and_raises_the_loss(name):
    """``attack(model, x, y, eps) -> x_adv``: same shape, pixels in [0, 1],
    |x_adv − x| ≤ ε, the clean batch untouched, and a higher loss (on a linear
    model, where the ascent cannot fail)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 3)).eval()
    x, y = torch.rand(16, 3, 4, 4), torch.randint(0, 3, (16,))
    clean = x.clone()
    eps = 8 / 255
    adversarial = ATTACKS[name](model, x, y, eps=eps)
    assert torch.equal(x, clean) and adversarial.shape == x.shape
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    assert (adversarial - x).abs().max() <= eps + 1e-6
    with torch.no_grad():
        assert F.cross_entropy(model(adversarial), y) > F.cross_entropy(model(x), y)


# -- presets and releases --------------------------------------------------------------------

@pytest.mark.parametrize("name", list_presets())
def test_preset_names_registered_entries(name):
    preset = PRESETS[name]
    assert preset.name == name and preset.architecture in list_architectures()
    assert set(preset.targets) <= set(list_datasets()) and preset.source.name in list_datasets()


@pytest.mark.parametrize("name", list_releases())
def test_release_has_a_checksum_and_known_names(name):
    """An official file carries its git blob sha1; one published elsewhere has
    none and is imported once with ``--trust``, which records its sha256."""
    release = get_release(name)
    assert release.name == name and release.architecture in list_architectures()
    assert release.dataset.name in list_datasets() and release.objective in list_objectives()
    if release.where == OFFICIAL_REPO:
        assert re.fullmatch("[0-9a-f]{40}", release.git_blob_sha1)
    else:
        assert release.git_blob_sha1 == ""
    config = released_run(name)
    assert config.released == name and re.fullmatch("[0-9a-f]{16}", config.key())
