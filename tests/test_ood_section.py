"""§4.1, out-of-distribution detection (lib.sections.ood): the plan's run keys
against the code before the section protocol, the settings, the rows of one
smoke execution, the memo (keyed by specs, a second run scores nothing), the
tables, figures and claims."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from lib import notebook
from lib.claims import hanley_mcneil_se
from lib.evaluation import ood as ood_evaluation
from lib.evaluation.memo import evaluation_key
from lib.presets import PRESETS, TINY_IMAGENET_SOURCE, get_preset
from lib.sections import get_section
from lib.sections.ood import (
    CIFAR_PAIRS,
    SECTION,
    SETTINGS,
    UNCERTAINTY_TARGETS,
    OODSettings,
    claims,
)

# The keys notebook 04 trained before the section protocol (its own code:
# scratch_run(P, seed, target=target, track=True), finetune_run(...), parents first).
QUICK_KEYS = ["fe74d12634dd4b8a", "13443145f29e1ca3", "56702e00ed95a778"]
PAPER_KEYS_SHA = "0a177698278af7a9"  # sha256 of the 32 sorted paper keys
PAPER_TINY = {"scratch": "3e137fda768bc206", "source": "6a3ee3d01aea9404",
              "pretrained": "466f94943bad31ca"}  # seed 0


def keys(preset):
    return [c.key() for c in SECTION.planned(preset)]


def test_quick_keys_are_the_old_notebooks():
    assert keys("quick") == QUICK_KEYS


def test_paper_keys_are_the_old_notebooks():
    paper = keys("paper")
    assert len(paper) == len(set(paper)) == 32  # 3 targets × 5 seeds × 2 arms + 2 sources
    assert hashlib.sha256("\n".join(sorted(paper)).encode()).hexdigest()[:16] == PAPER_KEYS_SHA


def test_tiny_imagenet_is_tuned_20_epochs_from_the_64px_source_without_its_classes():
    paper = get_preset("paper")
    tiny = {t.dataset: t for t in UNCERTAINTY_TARGETS["paper"]}["tiny_imagenet"]
    runs = tiny.runs(paper, 0)
    assert runs["pretrained"].recipe.epochs == 20 and runs["pretrained"].recipe.lr == 0.001
    assert runs["pretrained"].init.data.dataset == TINY_IMAGENET_SOURCE[1]
    assert {"scratch": runs["scratch"].key(), "source": runs["pretrained"].init.key(),
            "pretrained": runs["pretrained"].key()} == PAPER_TINY
    assert TINY_IMAGENET_SOURCE in paper.source_variants  # the same source as page 00's variant


@pytest.mark.parametrize("preset", list(PRESETS))
def test_settings_per_preset(preset):
    s = get_section("ood").settings_for(preset)
    assert isinstance(s, OODSettings) and s is SETTINGS[preset]
    assert s.targets == UNCERTAINTY_TARGETS[preset]
    assert s.describe() == s.describe() and "OOD sets" in s.describe()
    for target in s.targets:
        specs = s.ood_specs(target.dataset)
        assert [spec.name for spec in specs] == s.ood_names(target.dataset)
        assert all(spec.count == s.ood_samples for spec in specs)


def test_each_cifar_is_ood_for_the_other():
    s = SETTINGS["paper"]
    for target, other in CIFAR_PAIRS.items():
        assert s.ood_names(target)[-1] == other and other not in s.ood_sets
    assert s.ood_names("tiny_imagenet") == list(s.ood_sets)
    assert {spec.size for spec in s.ood_specs("tiny_imagenet")} == {64}
    assert {(spec.channels, spec.size) for spec in s.ood_specs("cifar10")} == {(3, 32)}


@pytest.mark.parametrize("change", [dict(scores=("energy",)), dict(scores=("msp", "odin")),
                                    dict(ood_sets=()), dict(ood_samples=0)])
def test_invalid_settings_fail(change):
    with pytest.raises(ValueError):
        replace(SETTINGS["smoke"], **change)


def test_the_memo_is_keyed_by_the_ood_descriptions_not_pixels():
    class Run:
        key, digest = "k", "d"

    spec = SETTINGS["smoke"].ood_specs("fashion_mnist")[0]
    base = evaluation_key("ood_rows", Run, [spec], {})
    assert base == evaluation_key("ood_rows", Run, [replace(spec)], {})
    for change in (dict(count=spec.count + 1), dict(seed=1), dict(size=32), dict(name="blobs")):
        assert evaluation_key("ood_rows", Run, [replace(spec, **change)], {}) != base


# -- one smoke execution --------------------------------------------------------------------

@pytest.fixture(scope="module")
def session(tmp_path_factory, smoke_runs_dir):
    """One smoke execution on the test session's shared run cache (conftest)."""
    session = notebook.start("ood", "smoke")
    session.runs_dir, session.results_dir = smoke_runs_dir, tmp_path_factory.mktemp("results")
    session.verbose = False
    session.run()
    return session


def test_rows(session):
    rows, s = session.results, session.settings
    scored = rows[rows.metric != "ood_count"]
    sets = s.ood_names("fashion_mnist")
    assert len(scored) == 2 * len(sets) * len(s.scores) * 3  # arms × sets × scores × metrics
    assert set(scored.unit) == {"%"} and scored.value.between(0, 100).all()
    assert set(scored.ood_set) == set(sets) and set(scored.score) == set(s.scores)
    assert (scored.n == get_preset("smoke").test_size).all()
    assert set(rows.method) == {"none"} and set(rows.arm) == {"scratch", "pretrained"}
    counts = rows[rows.metric == "ood_count"]
    assert set(counts.unit) == {"images"} and (counts.value <= s.ood_samples).all()


def test_a_second_run_scores_nothing(session, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the memo was missed")

    monkeypatch.setattr(ood_evaluation, "predict_logits", fail)
    again = notebook.start("ood", "smoke")
    again.runs_dir, again.results_dir, again.verbose = session.runs_dir, session.results_dir, False
    rows = again.run()
    pd.testing.assert_series_equal(rows.value, session.results.value)


@pytest.mark.parametrize("name", list(SECTION.tables))
def test_tables(session, name):
    table = session.section.table(name, session.results, session.preset)
    assert isinstance(table, pd.DataFrame) and len(table) and table.notna().any().any()


def test_table4_is_the_mean_over_sets(session):
    rows = session.results
    msp = rows[(rows.score == "msp") & (rows.metric == "auroc") & (rows.arm == "scratch")]
    table = session.section.table("table4", rows, session.preset)
    assert table.loc["fashion_mnist", ("auroc", "scratch")] == pytest.approx(msp.value.mean(),
                                                                             abs=0.05)


@pytest.mark.parametrize("name", list(SECTION.figures))
def test_figures(session, name):
    fig = session.section.figure(name, session.results, session.preset)
    assert fig.axes
    plt.close(fig)


def test_claims_one_seed_use_hanley_mcneil(session):
    found = session.judged()
    assert [(c.key, c.dataset) for c in found] == [("ood_auroc", "fashion_mnist"),
                                                  ("ood_aupr", "fashion_mnist")]
    auroc = found[0]
    rows = session.results
    ses = {}
    for arm in ("scratch", "pretrained"):
        mine = rows[(rows.arm == arm) & (rows.score == "msp") & (rows.metric == "auroc")]
        count = rows[(rows.arm == arm) & (rows.metric == "ood_count")].set_index("ood_set").value
        se = [hanley_mcneil_se(r.value, int(r.n), int(count[r.ood_set])) for r in mine.itertuples()]
        ses[arm] = (sum(x * x for x in se) ** 0.5) / len(se)
    assert auroc.band == pytest.approx(2 * (ses["scratch"] ** 2 + ses["pretrained"] ** 2) ** 0.5)
    assert "one seed" in auroc.band_kind and auroc.seeds == 1
    assert auroc.magnitude == pytest.approx(auroc.pretrained - auroc.scratch)


def test_claims_with_seeds_use_the_seed_spread(session):
    rows = session.results
    more = pd.concat([rows, rows.assign(seed=1, value=rows.value * 0.9)], ignore_index=True)
    paper = {c.key: c for c in claims(more, SETTINGS["smoke"], get_preset("smoke"))}
    assert paper["ood_auroc"].seeds == 2 and "2 seeds" in paper["ood_auroc"].band_kind


def test_paper_values_per_target():
    from lib.sections.ood import _paper_text

    assert _paper_text("cifar100", "auroc") == ("69.4 → 83.1", "+13.7 points")
    assert "not in the paper" in _paper_text("fashion_mnist", "aupr")[0]
