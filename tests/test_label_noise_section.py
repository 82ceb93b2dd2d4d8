"""The §3.1 section on the section protocol: settings per preset, the method
registry, the plan (pinned to the run keys the code before the protocol
trained), the rows, tables, figures and claims, and a tiny end-to-end sweep."""

from dataclasses import replace

import matplotlib
import numpy as np
import pandas as pd
import pytest

from lib.claims import Claim
from lib.metrics import area_under_error_curve
from lib.presets import PRESETS, Recipe, get_preset, preset_names
from lib.results import tidy
from lib.sections import get_section
from lib.sections.base import ARMS, DeferredRun, Method
from lib.sections.label_noise import (
    COMPARISONS,
    METHODS,
    PAPER_TABLE1,
    SECTION,
    SETTINGS,
    Study,
    area_rows,
    trapezoid_weights,
)
from lib.training import RunConfig, default_runs_dir

matplotlib.use("Agg")

# Every config the code before the section protocol passed to train_or_load at the
# quick preset (stage 1 of every cell, Figure 1's long run and its reference, and the
# source run), computed from /work/baseline: the shipped checkpoint and the quick
# cache stay valid only if these keys do not move.
# Moved in issue 17: the quick source became 1,000 fractal classes × 100 (chosen on validation);
# moved again when the quick target runs took bf16 autocast on the CPU and the re-run
# selection chose the 1,000 × 50 source at lr 0.01;
# then quick's strengths became 0, 0.5 and 1 (the keys of 0 and 1 unchanged), for the budget.
# Issue 23: moved again when the quick target runs went back to float32 on the CPU and the
# float32 re-selection chose fine-tuning at lr 0.05 (§3.1, §3.2: 0.0125; §3.3: 0.05 and 0.0125).
QUICK_KEYS = {
    "0e28a1329831aaa1", "0f06efd9890c1388", "13443145f29e1ca3", "2afad427c51d1c04",
    "397e806be7eeabbd", "42b5d22d6c3c418b", "4b024a3f479e0a22", "4b698fb518e864b2",
    "66ac093b38b3cba3", "701f93d01a6d9770", "74d8d7be9aa368b2", "804f32d3a9df189b",
    "81ac1f72663eb6cc", "90379d289715e305", "97e980ace710493c", "997e6099b8dc2fda",
    "a5416fcdd7a57893", "aedc6f8ee1ba4a82", "d9bc09b00ab2352b", "dc6c6d4621752c3e",
    "e48777d543400ea1"
}
# The old ``planned_runs`` (runs a cold sweep trains, the source not counted); the
# paper preset adds Forward's own stage 1 in the pre-trained arm (lr 0.01, as the
# official code), one per target × strength: 266 + 2 × 11; and the class-exclusion
# check (issue 14, item 2) adds No Correction fine-tuned on CIFAR-10 from the source
# without the CIFAR-10-related classes at each of the 11 strengths (one seed): 288 + 11,
# and that source itself (a second source run).
OLD_PLANNED_RUNS = {"smoke": 26, "quick": 38, "paper": 299}  # quick: 3 strengths (issue 17)
PLANNED_SOURCES = {"smoke": 1, "quick": 1, "paper": 2}


def _configs(entries):
    return [e for e in entries if isinstance(e, RunConfig)]


def _deferred(entries):
    return [e for e in entries if isinstance(e, DeferredRun)]


# -- settings -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", preset_names())
def test_settings_exist_for_every_preset(name):
    s = SECTION.settings_for(name)
    assert s is SECTION.settings_for(get_preset(name))
    assert set(s.methods) == set(METHODS)
    assert s.strengths[0] == 0.0 and s.strengths[-1] == 1.0  # the area spans s in [0, 1]
    assert s.trusted_fractions == (0.05, 0.1)
    assert s.kind == "uniform"
    assert set(s.targets) <= set(get_preset(name).targets)
    assert "strengths" in s.describe() and s.describe() == s.describe()


def test_the_section_is_registered():
    assert get_section("label_noise") is SECTION
    assert set(SECTION.settings) == set(PRESETS)
    assert {"table1", "paper_table1"} <= set(SECTION.tables)
    assert {"figure1", "figure2"} <= set(SECTION.figures)


def test_paper_settings_follow_the_paper():
    s = SETTINGS["paper"]
    assert s.targets == ("cifar10", "cifar100")
    assert s.strengths == tuple(round(0.1 * i, 1) for i in range(11))
    assert (s.scratch.epochs, s.scratch.lr, s.scratch.dropout) == (100, 0.1, 0.3)
    assert (s.finetune.epochs, s.finetune.lr, s.finetune.dropout) == (10, 0.001, 0.0)
    assert (s.finetune_corrected.epochs, s.finetune_corrected.lr) == (10, 0.01)
    assert s.train_size is None


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="strengths"):
        replace(SETTINGS["smoke"], strengths=(0.5,))
    with pytest.raises(ValueError, match="method"):
        replace(SETTINGS["smoke"], methods=("nope",))
    with pytest.raises(ValueError, match="preset"):
        SECTION.settings_for("huge")


# -- methods --------------------------------------------------------------------------------

def test_registry_covers_the_four_methods():
    assert list(METHODS) == ["no_correction", "forward", "glc_5", "glc_10"]
    assert METHODS["glc_5"].fact("trusted_fraction") == 0.05
    assert METHODS["glc_10"].fact("trusted_fraction") == 0.1
    assert METHODS["forward"].fact("trusted_fraction", 0.0) == 0.0
    assert list(SECTION.table("paper_table1", None, "smoke").index) == \
        [m.title for m in METHODS.values()]


@pytest.mark.parametrize("name", list(METHODS))
def test_method_plans_its_stages(name):
    method = METHODS[name]
    assert isinstance(method, Method) and method.arms == ARMS
    study = Study(get_preset("quick"), SETTINGS["quick"])
    cell = dict(target="fashion_mnist", seed=0, corruption=0.4)
    for arm in ARMS:
        planned = method.plan(study, arm, cell)
        assert len(planned) == method.stages
        assert all(isinstance(e, RunConfig) for e in planned[:-1])
        if method.stages == 2:  # stage 2's loss needs the matrix from the trained stage 1
            assert isinstance(planned[-1], DeferredRun) and planned[-1].parents == (planned[0],)
        assert (planned[0].init is None) == (arm == "scratch")


def test_forward_stage1_is_the_no_correction_run():
    study = Study(get_preset("quick"), SETTINGS["quick"])
    cell = dict(target="fashion_mnist", seed=0, corruption=0.8)
    for arm in ARMS:
        assert METHODS["forward"].plan(study, arm, cell)[0].key() == \
            METHODS["no_correction"].plan(study, arm, cell)[0].key()


def test_forward_stage1_at_paper_trains_at_the_correction_rate():
    """Official train_forward.py: both stages of the pre-trained arm at lr 0.01;
    from scratch the two recipes agree, so stage 1 stays the no-correction run."""
    s = SETTINGS["paper"]
    study = Study(get_preset("paper"), s)
    cell = dict(target="cifar100", seed=0, corruption=0.3)
    first = METHODS["forward"].plan(study, "pretrained", cell)[0]
    plain = METHODS["no_correction"].plan(study, "pretrained", cell)[0]
    assert first.recipe == s.finetune_corrected and first.recipe.lr == 0.01
    assert plain.recipe.lr == 0.001 and first.key() != plain.key()
    assert first.data == plain.data and first.objective == "cross_entropy"
    assert first.init.key() == plain.init.key()  # the same pre-trained source
    assert METHODS["forward"].plan(study, "scratch", cell)[0].key() == \
        METHODS["no_correction"].plan(study, "scratch", cell)[0].key()


def test_forward_anchor_rule_per_target():
    """Official train_forward.py lines 316-320: the 97th-percentile anchor for
    CIFAR-10 only, the plain argmax for CIFAR-100; the quick target keeps 97."""
    paper, quick = SETTINGS["paper"], SETTINGS["quick"]
    assert paper.anchor_percentile("cifar10") == 97.0
    assert paper.anchor_percentile("cifar100") == 100.0
    assert quick.anchor_percentile("fashion_mnist") == 97.0
    assert SETTINGS["smoke"].anchor_percentile("fashion_mnist") == 97.0
    assert "cifar10 97th percentile, cifar100 plain argmax" in paper.describe()
    with pytest.raises(ValueError, match="svhn"):
        replace(paper, forward_percentile_by_target=(("svhn", 100.0),))
    with pytest.raises(ValueError, match="cifar100"):
        replace(paper, forward_percentile_by_target=(("cifar100", 101.0),))


def test_forward_matrix_memo_uses_the_targets_anchor(monkeypatch):
    """The estimate of C goes through the target's percentile (and the memo
    params carry it: 97 at quick, as recorded before)."""
    from lib.sections import label_noise

    calls = []

    def memo(name, run, data, params, compute):
        calls.append((name, params))
        return compute()

    def estimate(probabilities, percentile):
        calls.append(("estimate", percentile))
        return np.eye(2)

    monkeypatch.setattr(label_noise.methods, "estimate_forward_matrix", estimate)
    for preset, target, expected in (("quick", "fashion_mnist", 97.0),
                                     ("paper", "cifar100", 100.0), ("paper", "cifar10", 97.0)):
        study = Study(get_preset(preset), SETTINGS[preset])
        monkeypatch.setattr(study, "memo", memo)
        monkeypatch.setattr(study, "view", lambda spec: None)
        monkeypatch.setattr(study, "probabilities", lambda run, data: np.full((3, 2), 0.5))
        calls.clear()
        label_noise._forward_correction(study, dict(target=target, seed=0, corruption=0.2),
                                        None)
        assert calls == [("forward_matrix", {"percentile": expected}), ("estimate", expected)]


def test_corruption_is_the_last_transform():
    study = Study(get_preset("smoke"), SETTINGS["smoke"])
    spec = study.data(dict(target="fashion_mnist", seed=3, corruption=0.4), 0.1, "untrusted")
    assert spec.transforms[-1][0] == "corrupt_labels"
    assert dict(spec.transforms[-1][1]) == dict(kind="uniform", strength=0.4,
                                                trusted_fraction=0.1, part="untrusted")
    assert spec.split_seed == 3 and spec.size == SETTINGS["smoke"].train_size


# -- the plan -------------------------------------------------------------------------------

def test_quick_plan_keeps_the_old_run_keys():
    planned = SECTION.planned("quick")
    keys = [c.key() for c in _configs(planned)]
    assert len(keys) == len(set(keys)) and set(keys) == QUICK_KEYS
    # each stage 2 of Forward and GLC: 3 methods × 2 arms × 3 strengths
    assert len(_deferred(planned)) == 18


@pytest.mark.parametrize("name", preset_names())
def test_plan_counts_match_the_old_planned_runs(name):
    planned = SECTION.planned(name)
    sources = [c for c in _configs(planned) if c.label.startswith("pretrain[")]
    assert len(sources) == PLANNED_SOURCES[name]
    assert len(planned) - len(sources) == OLD_PLANNED_RUNS[name]


@pytest.mark.parametrize("name", preset_names())
def test_plan_lists_parents_first(name):
    seen = set()
    for entry in SECTION.planned(name):
        if isinstance(entry, DeferredRun):
            assert all(p.key() in seen for p in entry.parents), entry.label
        else:
            assert entry.init is None or entry.init.key() in seen, entry.label
            seen.add(entry.key())


# -- rows, areas and claims on synthetic rows -----------------------------------------------

def test_trapezoid_weights_give_the_area():
    rng = np.random.default_rng(0)
    s = np.sort(np.concatenate([[0.0, 1.0], rng.random(5)]))
    e = rng.random(7) * 100
    assert float(trapezoid_weights(s) @ e) == pytest.approx(area_under_error_curve(s, e))


def _rows(settings, errors, seeds=(0,), n=10000, jitter=0.0):
    """Error rows at every strength with ``errors[(dataset, method, arm)]`` as
    the constant error (per seed, ± ``jitter``), plus their area rows."""
    rows = []
    for (dataset, method, arm), value in errors.items():
        for i, seed in enumerate(seeds):
            for s in settings.strengths:
                rows.append(dict(section="label_noise", dataset=dataset, method=method, arm=arm,
                                 seed=seed, metric="error", value=value + jitter * i, unit="%",
                                 n=n, corruption=s, wall_time_s=1.0))
    return tidy(rows + area_rows(rows, settings))


def _paper_rows(seeds=(0,), jitter=0.0):
    settings = SETTINGS["paper"]
    errors = {(d, m, a): v for (d, a), table in PAPER_TABLE1.items() for m, v in table.items()}
    return settings, _rows(settings, errors, seeds, jitter=jitter)


def test_area_rows_carry_their_unit_and_span():
    settings, rows = _paper_rows()
    areas = rows[rows.metric == "error_auc"]
    assert len(areas) == 16 and set(areas.unit) == {"%·s"}
    one = areas[(areas.dataset == "cifar10") & (areas.method == "no_correction")
                & (areas.arm == "scratch")]
    assert one.value.iloc[0] == pytest.approx(28.7)  # a constant error e has area e over [0, 1]


def test_the_papers_table1_passes_every_claim():
    settings, rows = _paper_rows()
    claims = SECTION.judge(rows, "paper")
    assert all(isinstance(c, Claim) for c in claims)
    assert len(claims) == len(COMPARISONS) * 2
    assert [(c.key, c.dataset) for c in claims[:2]] == \
        [("label_noise_auc", "cifar10"), ("label_noise_auc", "cifar100")]  # the headline first
    assert all(c.holds for c in claims), [c.sentence() for c in claims if not c.holds]
    head = {c.dataset: c for c in claims[:2]}
    assert head["cifar10"].magnitude == pytest.approx(100 * (1 - 15.9 / 28.7))
    assert head["cifar10"].paper_magnitude.startswith("45%")
    assert head["cifar100"].paper_magnitude.startswith("29%")
    assert all(c.band_kind.endswith("one seed") and c.seeds == 1 for c in claims)
    # one seed: the band is the test-set sampling error of the two areas
    se = 100 * np.sqrt(0.287 * 0.713 / 10000) * np.sqrt(np.sum(trapezoid_weights(
        settings.strengths) ** 2))
    se_pre = 100 * np.sqrt(0.159 * 0.841 / 10000) * np.sqrt(np.sum(trapezoid_weights(
        settings.strengths) ** 2))
    assert head["cifar10"].band == pytest.approx(2 * np.hypot(se, se_pre))


def test_claims_use_the_seed_spread_with_two_seeds():
    _, rows = _paper_rows(seeds=(0, 1), jitter=1.0)
    claims = SECTION.judge(rows, "paper")
    assert all(c.band_kind == "2 SE over 2 seeds" and c.seeds == 2 for c in claims)
    head = claims[0]
    assert head.scratch == pytest.approx(28.7 + 0.5)
    assert head.pretrained == pytest.approx(15.9 + 0.5)


def test_claims_are_judged_per_dataset_not_pooled():
    settings = SETTINGS["paper"]
    errors = {("cifar10", m, a): 50.0 if a == "scratch" else 40.0
              for m in METHODS for a in ARMS}
    errors.update({("cifar100", m, a): 50.0 if a == "scratch" else 60.0
                   for m in METHODS for a in ARMS})
    claims = SECTION.judge(_rows(settings, errors), "paper")
    head = {c.dataset: c for c in claims if c.key == "label_noise_auc"}
    assert head["cifar10"].holds is True and head["cifar100"].holds is False


@pytest.mark.parametrize("name", ["table1", "paper_table1"])
def test_tables_on_paper_rows(name):
    _, rows = _paper_rows()
    table = SECTION.table(name, rows, "paper")
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == [(d, a) for d in ("cifar10", "cifar100") for a in ARMS]
    if name == "table1":  # ours reproduces the paper's numbers it was given, plus clean error
        assert table.loc["No Correction", ("cifar10", "scratch")] == pytest.approx(28.7)
        assert table.iloc[-1][("cifar10", "pretrained")] == pytest.approx(15.9)


def _varying_rows(settings, seeds=(0, 1)):
    """Error rows that differ in every cell, strength and seed (so a figure that
    drew the wrong cell, order or mean would show it), plus Figure 1's long run
    (per-epoch errors of the from-scratch run at ``long_run_strength``)."""
    rows, long = [], []
    for d, dataset in enumerate(settings.targets):
        for m, method in enumerate(settings.methods):
            for a, arm in enumerate(ARMS):
                for seed in seeds:
                    for s in settings.strengths:
                        rows.append(dict(section="label_noise", dataset=dataset, method=method,
                                         arm=arm, seed=seed, metric="error", unit="%", n=1000,
                                         value=10 + 40 * s + 3 * m + 20 * a + d + 2 * seed,
                                         corruption=s, wall_time_s=1.0))
        for seed in seeds:
            long += [dict(section="label_noise", dataset=dataset, method="no_correction",
                          arm="scratch", seed=seed, metric="error", unit="%", n=1000,
                          value=60 - 5 * epoch + epoch ** 2 + d + seed, epoch=epoch,
                          corruption=settings.long_run_strength, wall_time_s=1.0)
                     for epoch in range(1, 7)]
    return tidy(rows + long + area_rows(rows, settings))


def test_figure2_draws_each_cells_mean_over_seeds():
    """One panel per target × method, one line per arm: the cell's error per
    strength, mean over seeds."""
    import matplotlib.pyplot as plt

    settings = SETTINGS["paper"]
    rows = _varying_rows(settings).sample(frac=1.0, random_state=0)
    fig = SECTION.figure("figure2", rows, "paper")
    panels = [(t, m) for t in settings.targets for m in settings.methods]
    assert len(fig.axes) == len(panels)
    cells = rows[(rows.metric == "error") & rows.epoch.isna()]
    for ax, (target, method) in zip(fig.axes, panels):
        assert ax.get_title().startswith(f"{target}: ")
        drawn = {line.get_label(): line for line in ax.lines}
        assert set(drawn) == set(ARMS)
        for arm in ARMS:
            mine = cells[(cells.dataset == target) & (cells.method == method) & (cells.arm == arm)]
            expected = mine.groupby("corruption").value.mean().sort_index()
            assert len(expected) == len(settings.strengths)
            np.testing.assert_allclose(drawn[arm].get_xdata(), expected.index)
            np.testing.assert_allclose(drawn[arm].get_ydata(), expected.values)
    plt.close(fig)


def test_figure1_draws_the_long_run_and_the_pretrained_reference():
    """Per (target, seed): the long run's error per epoch, and a horizontal line
    at the pre-trained, no-correction cell at the long-run strength."""
    import matplotlib.pyplot as plt

    settings = SETTINGS["paper"]
    assert settings.long_run_strength in settings.strengths
    rows = _varying_rows(settings)
    fig = SECTION.figure("figure1", rows, "paper")
    runs = [(t, seed) for t in settings.targets for seed in (0, 1)]
    assert len(fig.axes) == len(runs)
    for ax, (target, seed) in zip(fig.axes, runs):
        assert ax.get_title() == f"{target}, s = {settings.long_run_strength:g}, seed {seed}"
        curve, reference = ax.lines
        long = rows[rows.epoch.notna() & (rows.dataset == target) & (rows.seed == seed)]
        long = long.sort_values("epoch")
        np.testing.assert_allclose(curve.get_xdata(), long.epoch.astype(int))
        np.testing.assert_allclose(curve.get_ydata(), long.value)
        cell = rows[rows.epoch.isna() & (rows.metric == "error") & (rows.dataset == target)
                    & (rows.seed == seed) & (rows.method == "no_correction")
                    & (rows.arm == "pretrained")
                    & (rows.corruption == settings.long_run_strength)]
        assert len(cell) == 1
        np.testing.assert_allclose(reference.get_ydata(), [cell.value.iloc[0]] * 2)
    plt.close(fig)


# -- a tiny sweep, end to end ---------------------------------------------------------------

@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """The smoke section shrunk to two strengths and two methods, Figure 1's
    strength among them (its reference is then a cell)."""
    one = Recipe(epochs=1, lr=0.05)
    settings = replace(SETTINGS["smoke"], strengths=(0.0, 0.5), train_size=100,
                       scratch=replace(one, dropout=0.3), finetune=one, finetune_corrected=one,
                       methods=("no_correction", "glc_10"), long_run_strength=0.5,
                       long_run_epochs=2)
    monkeypatch.setitem(SETTINGS, "smoke", settings)
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    from lib import notebook

    session = notebook.start("label_noise", "smoke", None, "cpu")
    session.preset = session.preset.with_changes(test_size=100)
    session.verbose = False
    return session


def test_tiny_sweep_end_to_end(tiny, monkeypatch):
    session, settings = tiny, tiny.settings
    rows = session.run()
    cells = rows[(rows.metric == "error") & rows.epoch.isna()]
    assert len(cells) == 2 * 2 * 2 and set(cells.unit) == {"%"} and set(cells.n) == {100}
    assert cells.value.between(0, 100).all()
    assert sorted(set(cells.corruption)) == [0.0, 0.5]
    epochs = rows[rows.epoch.notna()]
    assert list(epochs.epoch) == [1, 2] and set(epochs.arm) == {"scratch"}
    trusted = rows[rows.metric == "trusted_examples"]
    assert set(trusted.value) == {10.0} and set(trusted.unit) == {"images"}

    areas = rows[rows.metric == "error_auc"]
    assert len(areas) == 4
    for area in areas.itertuples():
        mine = cells[(cells.method == area.method) & (cells.arm == area.arm)]
        assert area.value == pytest.approx(
            area_under_error_curve(mine.corruption.to_numpy(float), mine.value.to_numpy(float)))

    study = Study(session.preset, settings, train=session.train, device=session.device)
    final = METHODS["glc_10"].train(study, "scratch",
                                    dict(target="fashion_mnist", seed=0, corruption=0.5))
    params = dict(final.config.objective_params)
    assert final.config.objective == "glc" and params["num_trusted"] == 10
    matrix = np.array(params["matrix"])
    assert matrix.shape == (10, 10) and np.allclose(matrix.sum(1), 1)
    assert final.info["train_size"] == 100  # stage 2 trains on trusted + untrusted

    # every planned config was trained; the deferred ones are the stage 2 runs
    planned = SECTION.planned(session.preset)
    runs_dir = default_runs_dir()
    assert all((runs_dir / c.key() / "model.pt").exists() for c in _configs(planned))
    stage2 = set(cells[cells.method == "glc_10"].run_key)
    assert len(_deferred(planned)) == len(stage2) == 2 * 2  # glc_10 × arms × strengths

    for name in SECTION.tables:
        SECTION.table(name, rows, session.preset)
    for name in SECTION.figures:
        assert isinstance(SECTION.figure(name, rows, session.preset), matplotlib.figure.Figure)
    claims = session.judged()
    assert [c.key for c in claims] == ["label_noise_auc", "label_noise_auc_glc_10"]

    # a second execution trains and evaluates nothing, and shows the same numbers
    def no_evaluation(*args, **kwargs):
        raise AssertionError("evaluated again: the memo missed")

    monkeypatch.setattr("lib.sections.label_noise.methods.predict_logits", no_evaluation)
    from lib import notebook

    again = notebook.start("label_noise", "smoke", None, "cpu")
    again.preset, again.verbose = session.preset, False
    second = again.run()
    assert again._counts["trained"] == 0
    assert second.value.tolist() == rows.value.tolist()


# -- the class-exclusion check (issue 14, item 2) ----------------------------------------------

EXCLUDED = "without CIFAR-10-related classes"


def _check_rows(settings, value, seeds=(0,), n=10000):
    """The check's error rows: No Correction pre-trained on CIFAR-10 from the
    source without the classes, a constant ``value`` at every strength."""
    return [dict(section="label_noise", dataset="cifar10", method="no_correction",
                 arm="pretrained", source=EXCLUDED, seed=seed, metric="error", value=value,
                 unit="%", n=n, corruption=s, wall_time_s=1.0)
            for seed in seeds for s in settings.strengths]


def _paper_rows_with_check(value):
    settings, rows = _paper_rows()
    check = _check_rows(settings, value)
    return settings, tidy(rows.to_dict("records") + check + area_rows(check, settings))


@pytest.mark.parametrize("name", ["smoke", "quick"])
def test_no_exclusion_check_without_the_source(name):
    s = SETTINGS[name]
    assert s.ablation_source is None and "class-exclusion" not in s.describe()
    assert Study(get_preset(name), s).check_cells() == []
    sources = {c.data.dataset for c in _configs(SECTION.planned(name))
               if c.label.startswith("pretrain[")}
    assert sources == {get_preset(name).source}


def test_the_paper_plan_runs_the_exclusion_check():
    """No Correction fine-tuned on CIFAR-10 from the source without the classes,
    at every strength: the main pre-trained cell with only its source changed."""
    preset, s = get_preset("paper"), SETTINGS["paper"]
    assert s.ablation_source == (EXCLUDED, dict(preset.source_variants)[EXCLUDED])
    assert "class-exclusion check" in s.describe() and "212 classes" in s.describe()
    study = Study(preset, s)
    cells = study.check_cells()
    assert [c["corruption"] for c in cells] == list(s.strengths)
    assert {(c["target"], c["source"]) for c in cells} == {("cifar10", EXCLUDED)}
    planned = _configs(SECTION.planned("paper"))
    keys = {c.key() for c in planned}
    for cell in cells:
        config = METHODS["no_correction"].plan(study, "pretrained", cell)[0]
        main = METHODS["no_correction"].plan(study, "pretrained", {**cell, "source": ""})[0]
        assert config.key() in keys and config.key() != main.key()
        assert config.init.data.dataset.kwargs() == {"exclude": "cifar10_related"}
        assert (config.data, config.recipe) == (main.data, main.recipe)
        assert main.init.data.dataset.options == ()
    with pytest.raises(ValueError, match="pretrained"):
        study.config("scratch", cells[0], study.data(cells[0]), "none")


def test_the_exclusion_check_on_paper_rows():
    settings, rows = _paper_rows_with_check(14.5)
    table = SECTION.table("table1", rows, "paper")
    checked = table.loc[f"No Correction, source {EXCLUDED}"]
    assert checked[("cifar10", "pretrained")] == pytest.approx(14.5)
    assert checked.drop(("cifar10", "pretrained")).isna().all()
    change = [i for i in table.index if i.strip().startswith("change from the full source")]
    assert table.loc[change[0], ("cifar10", "pretrained")] == pytest.approx(-1.4)
    assert table.loc["No Correction", ("cifar10", "pretrained")] == pytest.approx(15.9)
    assert table.index[-1].startswith("clean test error")
    paper = SECTION.table("paper_table1", rows, "paper")
    assert paper.loc[f"No Correction, source {EXCLUDED}", ("cifar10", "pretrained")] == 14.5
    assert "§3.1's text" in paper.index.name
    smoke = SECTION.table("table1", rows[rows.source == ""], "smoke")
    assert not any("source" in str(i) for i in smoke.index)

    claims = SECTION.judge(rows, "paper")
    assert len(claims) == len(COMPARISONS) * 2 + 1
    check = claims[-1]
    assert (check.key, check.dataset) == ("label_noise_auc_without_cifar10_classes", "cifar10")
    assert (check.scratch, check.pretrained) == (pytest.approx(15.9), pytest.approx(14.5))
    assert check.tolerance == pytest.approx(0.25 * (28.7 - 15.9))
    assert check.verdict == "similar, as the paper says" and check.holds
    assert check.paper_values == "15.9 → 14.5" and check.paper_magnitude.startswith("-1.40")
    assert "49%" in " ".join(check.notes) and "212" in " ".join(check.notes)
    head = claims[0]  # the main claims read the full source only
    assert (head.key, head.pretrained) == ("label_noise_auc", pytest.approx(15.9))


def test_the_exclusion_check_can_fail():
    _, rows = _paper_rows_with_check(25.0)
    check = SECTION.judge(rows, "paper")[-1]
    assert check.verdict == "not similar, unlike the paper" and check.holds is False


def test_the_exclusion_check_end_to_end(tiny, monkeypatch):
    """The check's path at smoke scale: a fractal source standing in for the
    reduced Downsampled ImageNet, the smoke target for CIFAR-10."""
    from lib.presets import DataSpec

    source = DataSpec.of("fractal", num_classes=10, per_class=20, size=28, channels=1, seed=1)
    settings = replace(tiny.settings, ablation_source=(EXCLUDED, source),
                       ablation_target="fashion_mnist")
    monkeypatch.setitem(SETTINGS, "smoke", settings)
    assert tiny.settings is settings
    rows = tiny.run()
    checked = rows[rows.source == EXCLUDED]
    assert set(checked.metric) == {"error", "error_auc"} and len(checked) == 2 + 1
    assert set(checked.corruption.dropna()) == {0.0, 0.5}
    main = rows[(rows.source == "") & (rows.metric == "error_auc")]
    assert len(main) == 4  # the main sweep's areas are unchanged by the check
    assert checked[checked.metric == "error"].run_key.nunique() == 2  # one run per cell
    assert [c.key for c in tiny.judged()][-1] == "label_noise_auc_without_cifar10_classes"
    planned = {c.key() for c in _configs(SECTION.planned(tiny.preset))}
    assert set(checked[checked.metric == "error"].run_key) <= planned
