"""§4.2, calibration (lib.sections.calibration): the plan's run keys against
the code before the section protocol, the hold-out setting, the rows of one
smoke execution (raw and temperature-scaled, the per-epoch RMS), the memo, the
tables, figures and claims (bootstrap band with one seed)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from lib import notebook
from lib.evaluation import calibration as calibration_evaluation
from lib.evaluation.calibration import bootstrap_se, calibration_metrics
from lib.metrics import top1_error
from lib.presets import PRESETS, get_preset
from lib.sections import get_section
from lib.sections.calibration import SECTION, SETTINGS, CalibrationSettings, claims
from lib.sections.ood import UNCERTAINTY_TARGETS

# The keys notebook 05 trained before the section protocol (scratch_run /
# finetune_run on the training set without its 10% hold-out, track=True).
# Moved in issue 17: the quick source became 1,000 fractal classes × 100 (chosen on validation);
# moved again when the quick target runs took bf16 autocast on the CPU and the re-run
# selection chose the 1,000 × 50 source at lr 0.01.
# Issue 17: three seeds at quick, on the training set without the 10% hold-out (the
# pre-training page's runs too); seed 0's pair is notebook 05's old pair.
# Issue 23: moved again when the quick target runs went back to float32 on the CPU and the
# float32 re-selection chose fine-tuning at lr 0.05 (§3.1, §3.2: 0.0125; §3.3: 0.05 and 0.0125).
QUICK_KEYS = ["06e2b119b0baae3d", "13443145f29e1ca3", "2377a1fb47e64de5", "0b63220bf68d3dbf",
              "d3646bb7b9355982", "69c1a0155c64b82b", "0a978cdabac28b7f"]
# sha256 of the 32 sorted paper keys; moved when the paper sources took the official
# batch 256 (downsampled_train/baseline.py), which changes every pre-trained key.
PAPER_KEYS_SHA = "2f3fea33d67532a5"


def keys(preset):
    return [c.key() for c in SECTION.planned(preset)]


def test_quick_keys_are_the_old_notebooks():
    assert keys("quick") == QUICK_KEYS


def test_paper_keys_are_the_old_notebooks():
    paper = keys("paper")
    assert len(paper) == len(set(paper)) == 32
    assert hashlib.sha256("\n".join(sorted(paper)).encode()).hexdigest()[:16] == PAPER_KEYS_SHA


@pytest.mark.parametrize("preset", list(PRESETS))
def test_settings_per_preset(preset):
    s = get_section("calibration").settings_for(preset)
    assert s.targets is UNCERTAINTY_TARGETS[preset]  # the §4 targets, declared once
    assert s.holdout_fraction == 0.1  # paper §4
    assert "10%" in s.describe()
    for config in SECTION.plan(get_preset(preset)):
        assert config.data.holdout_fraction == s.holdout_fraction


@pytest.mark.parametrize("change", [dict(holdout_fraction=0.0), dict(holdout_fraction=1.0),
                                    dict(bootstrap_resamples=1)])
def test_invalid_settings_fail(change):
    with pytest.raises(ValueError):
        replace(SETTINGS["smoke"], **change)


def test_calibration_metrics_use_the_one_top1_error():
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(300, 5)), rng.integers(0, 5, 300)
    assert calibration_metrics(logits, labels)["error"] == top1_error(logits, labels)


def test_bootstrap_se_is_seeded():
    rng = np.random.default_rng(0)
    confidence, correct = rng.uniform(0.2, 1, 500), rng.uniform(size=500) < 0.7
    first = bootstrap_se(confidence, correct, "l2", 50, seed=0)
    assert first == bootstrap_se(confidence, correct, "l2", 50, seed=0) > 0
    assert first != bootstrap_se(confidence, correct, "l2", 50, seed=1)


# -- one smoke execution --------------------------------------------------------------------

@pytest.fixture(scope="module")
def session(tmp_path_factory, smoke_runs_dir):
    """One smoke execution on the test session's shared run cache (conftest)."""
    session = notebook.start("calibration", "smoke")
    session.runs_dir, session.results_dir = smoke_runs_dir, tmp_path_factory.mktemp("results")
    session.verbose = False
    session.run()
    return session


def test_rows(session):
    rows, smoke = session.results, get_preset("smoke")
    final = rows[rows.epoch.isna() & rows.bin.isna()]
    bins = rows[rows.bin.notna()]
    assert set(bins.metric) == {"bin_confidence", "bin_accuracy"}
    assert bins.value.between(0, 100).all()
    for calibration in ("raw", "temperature"):
        mine = final[(final.calibration == calibration) & (final.arm == "scratch")]
        expected = {"error", "rms", "mad", "rms_official", "mad_official", "ece", "nll", "brier",
                    "rms_se", "mad_se"} | ({"temperature"} if calibration == "temperature" else set())
        assert set(mine.metric) == expected
    units = final.groupby("metric").unit.first()
    assert units["nll"] == "nats" and units["temperature"] == "temperature"
    assert set(units.drop(["nll", "temperature"])) == {"%"}
    temperature = final[final.metric == "temperature"]
    assert (temperature.n == smoke.train_size * 0.1).all()  # fitted on the hold-out
    assert (final[final.metric == "rms"].n == smoke.test_size).all()
    tracked = rows[rows.epoch.notna()]
    assert set(tracked.metric) == {"rms"}
    assert sorted(tracked[tracked.arm == "scratch"].epoch) == list(range(1, smoke.scratch.epochs + 1))
    assert sorted(tracked[tracked.arm == "pretrained"].epoch) == list(
        range(1, smoke.finetune.epochs + 1))


def test_a_second_run_evaluates_nothing(session, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the memo was missed")

    monkeypatch.setattr(calibration_evaluation, "predict_logits", fail)
    again = notebook.start("calibration", "smoke")
    again.runs_dir, again.results_dir, again.verbose = session.runs_dir, session.results_dir, False
    rows = again.run()
    pd.testing.assert_series_equal(rows.value, session.results.value)


@pytest.mark.parametrize("name", list(SECTION.tables))
def test_tables(session, name):
    table = session.section.table(name, session.results, session.preset)
    if name == "temperature":
        assert "10%" in table and "held-out" in table
    else:
        assert isinstance(table, pd.DataFrame) and len(table) and table.notna().any().any()


def _drawn(ax):
    """``{label: (x, y)}`` of the labelled lines of ``ax``."""
    return {line.get_label(): (np.asarray(line.get_xdata(), float),
                               np.asarray(line.get_ydata(), float))
            for line in ax.lines if not line.get_label().startswith("_")}


@pytest.mark.parametrize("name", list(SECTION.figures))
def test_figures_draw_the_rows(session, name):
    """Each figure draws the values of its rows: the reliability curve is the
    first seed's bins (confidence, accuracy) / 100; Figure 4 the per-epoch RMS,
    mean over seeds; Figure 5's bars the final raw RMS per arm, mean over seeds."""
    from lib.sections.calibration import ARM_LABELS, ARMS

    rows = session.results
    targets = [t.dataset for t in session.settings.targets]
    fig = session.section.figure(name, rows, session.preset)
    raw = rows[rows.calibration == "raw"]
    if name == "reliability":
        assert len(fig.axes) == 2 * len(targets)
        bins = raw[raw.bin.notna() & (raw.seed == session.preset.seeds[0])]
        for i, (dataset, arm) in enumerate((d, a) for d in targets for a in ARMS):
            ax = fig.axes[i]
            assert dataset in ax.get_title() and ARM_LABELS[arm] in ax.get_title()
            mine = bins[(bins.dataset == dataset) & (bins.arm == arm)]
            curve = mine.pivot_table(index="bin", columns="metric", values="value").sort_index()
            assert len(curve) >= 2
            x, y = ax.lines[1].get_xdata(), ax.lines[1].get_ydata()  # [0]: the diagonal
            np.testing.assert_allclose(x, curve.bin_confidence / 100)
            np.testing.assert_allclose(y, curve.bin_accuracy / 100)
            assert ((0 <= np.asarray(x)) & (np.asarray(x) <= 1)).all()
    elif name == "figure4":
        assert len(fig.axes) == len(targets)
        tracked = rows[rows.epoch.notna() & (rows.metric == "rms")]
        for ax, dataset in zip(fig.axes, targets):
            drawn = _drawn(ax)
            assert set(drawn) == {ARM_LABELS[a] for a in ARMS}
            for arm in ARMS:
                mine = tracked[(tracked.dataset == dataset) & (tracked.arm == arm)]
                expected = mine.groupby("epoch").value.mean().sort_index()
                assert len(expected) >= 1
                np.testing.assert_allclose(drawn[ARM_LABELS[arm]][0], expected.index.astype(int))
                np.testing.assert_allclose(drawn[ARM_LABELS[arm]][1], expected.values)
    else:
        final = raw[raw.epoch.isna() & raw.bin.isna() & (raw.metric == "rms")]
        expected = final.groupby(["dataset", "arm"]).value.mean()
        ax, = fig.axes
        containers = {c.get_label(): c for c in ax.containers}
        assert set(containers) == {ARM_LABELS[a] for a in ARMS}
        for arm in ARMS:
            heights = [bar.get_height() for bar in containers[ARM_LABELS[arm]]]
            np.testing.assert_allclose(heights, [expected[(d, arm)] for d in targets])
    plt.close(fig)


def test_claims_one_seed_use_the_bootstrap(session):
    found = session.judged()
    assert [(c.key, c.dataset) for c in found] == [("calibration_rms", "fashion_mnist"),
                                                  ("calibration_mad", "fashion_mnist")]
    rows = session.results
    se = rows[(rows.metric == "rms_se") & (rows.calibration == "raw")].set_index("arm").value
    rms = found[0]
    assert rms.band == pytest.approx(2 * np.hypot(se["scratch"], se["pretrained"]))
    assert "bootstrap" in rms.band_kind and rms.seeds == 1
    assert rms.magnitude == pytest.approx(rms.scratch / rms.pretrained)
    assert "at least halved" in rms.paper_magnitude


def test_claims_with_seeds_use_the_seed_spread(session):
    rows = session.results
    more = pd.concat([rows, rows.assign(seed=1, value=rows.value * 0.9)], ignore_index=True)
    found = {c.key: c for c in claims(more, SETTINGS["smoke"], get_preset("smoke"))}
    assert found["calibration_mad"].seeds == 2 and "2 seeds" in found["calibration_mad"].band_kind


def test_paper_magnitudes():
    from lib.sections.calibration import _paper_text

    assert _paper_text("cifar100", "mad") == ("10.3 → 2.5", "10.3/2.5 = 4.1 (likewise at least "
                                              "halved; a factor of 4.1 on CIFAR-100)")
    assert "CIFAR-10 2.2" in _paper_text("fashion_mnist", "rms")[1]


def test_settings_type():
    assert all(isinstance(s, CalibrationSettings) for s in SETTINGS.values())
