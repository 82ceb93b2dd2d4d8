"""The §3.1 section pipeline: settings per preset, the method registry, and a
tiny end-to-end GLC sweep producing result rows and an area under the error curve."""

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from lib.presets import Recipe, get_preset, preset_names
from lib.sections.label_noise import (ARMS, METHODS, SETTINGS, LabelNoiseStudy, area_rows,
                                      claims, error_rows, paper_table1, planned_runs,
                                      settings_for, sweep)


@pytest.mark.parametrize("name", preset_names())
def test_settings_exist_for_every_preset(name):
    s = settings_for(name)
    assert s is settings_for(get_preset(name))
    assert set(s.methods) == set(METHODS)
    assert s.strengths[0] == 0.0 and s.strengths[-1] == 1.0  # the area spans s in [0, 1]
    assert s.trusted_fractions == (0.05, 0.1)
    assert s.kind == "uniform"
    assert set(s.targets) <= set(get_preset(name).targets)
    assert planned_runs(s) > 0
    assert "strengths" in s.describe()


def test_paper_settings_follow_the_paper():
    s = SETTINGS["paper"]
    assert s.targets == ("cifar10", "cifar100")
    assert s.strengths == tuple(round(0.1 * i, 1) for i in range(11))
    assert (s.scratch.epochs, s.scratch.lr, s.scratch.dropout) == (100, 0.1, 0.3)
    assert (s.finetune.epochs, s.finetune.lr, s.finetune.dropout) == (10, 0.001, 0.0)
    assert (s.finetune_corrected.epochs, s.finetune_corrected.lr) == (10, 0.01)
    assert s.train_size is None


def test_registry_covers_the_four_methods():
    assert set(METHODS) == {"no_correction", "forward", "glc_5", "glc_10"}
    assert METHODS["glc_5"].trusted_fraction == 0.05
    assert METHODS["glc_10"].trusted_fraction == 0.1
    assert METHODS["forward"].trusted_fraction == 0.0
    assert list(paper_table1().index) == [m.title for m in METHODS.values()]


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="strengths"):
        replace(SETTINGS["smoke"], strengths=(0.5,))
    with pytest.raises(ValueError, match="method"):
        replace(SETTINGS["smoke"], methods=("nope",))
    with pytest.raises(ValueError, match="preset"):
        settings_for("huge")


def test_corruption_is_the_last_transform():
    preset = get_preset("smoke")
    study = LabelNoiseStudy(preset, SETTINGS["smoke"], "fashion_mnist")
    spec = study.data(0.4, seed=3, trusted_fraction=0.1, part="untrusted")
    assert spec.transforms[-1][0] == "corrupt_labels"
    assert dict(spec.transforms[-1][1]) == dict(kind="uniform", strength=0.4,
                                                trusted_fraction=0.1, part="untrusted")
    assert spec.split_seed == 3 and spec.size == SETTINGS["smoke"].train_size


def _session():
    def rows(run, entries, **fields):
        return [dict(section="label_noise", seed=run.config.seed, device="cpu", commit="x",
                     wall_time_s=run.wall_time_s, run_key=run.key, **fields, **e)
                for e in entries]
    return SimpleNamespace(section="label_noise", rows=rows,
                           provenance=SimpleNamespace(device="cpu", commit="x"))


def test_tiny_glc_sweep_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNS_DIR", str(tmp_path / "runs"))
    one = Recipe(epochs=1, lr=0.05)
    settings = replace(SETTINGS["smoke"], strengths=(0.0, 0.5), train_size=100,
                       scratch=replace(one, dropout=0.3), finetune=one, finetune_corrected=one,
                       methods=("glc_10",))
    preset = get_preset("smoke").with_changes(test_size=100)
    study = LabelNoiseStudy(preset, settings, "fashion_mnist", device="cpu", verbose=False)
    # the scratch arm only (the pre-trained arm would pre-train the source first)
    monkeypatch.setattr("lib.sections.label_noise.ARMS", ("scratch",))
    outcomes = sweep(study)
    assert [(o.method, o.arm, o.strength) for o in outcomes] == \
        [("glc_10", "scratch", 0.0), ("glc_10", "scratch", 0.5)]
    final = outcomes[1].run
    params = dict(final.config.objective_params)
    assert final.config.objective == "glc" and params["num_trusted"] == 10
    matrix = np.array(params["matrix"])
    assert matrix.shape == (10, 10) and np.allclose(matrix.sum(1), 1)
    assert final.info["train_size"] == 100  # stage 2 trains on trusted + untrusted

    session = _session()
    rows = error_rows(session, outcomes)
    assert [r["metric"] for r in rows] == ["error", "error"]
    assert all(0 <= r["value"] <= 100 for r in rows)
    areas = area_rows(session, rows)
    assert len(areas) == 1 and areas[0]["metric"] == "error_auc"
    expected = 0.5 * (rows[0]["value"] + rows[1]["value"]) / 2
    assert areas[0]["value"] == pytest.approx(expected)
    assert areas[0]["detail"] == "s=0,0.5"

    again = sweep(study)  # a finished sweep re-renders from the cache
    assert all(o.run.from_cache for o in again)
    assert [o.error for o in again] == [o.error for o in outcomes]


def test_claims_compare_the_arms():
    import pandas as pd

    areas = pd.Series({(m, a): v for m in METHODS for a, v in zip(ARMS, (30.0, 20.0))})
    result = dict(claims(areas))
    assert all(result.values()) and len(result) == len(METHODS) + 2
