"""The page of the released models (issue 15, item 4): registered after the
paper's six sections, nothing trained, nothing measured at smoke (and the page
says so), and at the paper preset's dry run the fixture weights imported as
the Makefile does (``python -m lib.weights fixture``, then ``import --trust
--runs-dir $RUNS_DIR/dry_run``) measured on a miniature data root beside the
published numbers, with each release that is not imported (or lacks its data)
named with where to get it."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import pandas as pd
import pytest

import lib.weights as weights
from lib import notebook
from lib.claims import SIMILARITY_VERDICTS, VERDICTS, binomial_se
from lib.data.miniature import write_miniature
from lib.presets import PRESETS, get_run_preset
from lib.sections import get_section, section_names
from lib.sections.released import SECTION, SETTINGS, claims, release_arm

TUNED, BASELINE = "cifar10-tuned-wrn-40-2", "cifar10-baseline-wrn-40-2"
ROBUST = "robustbench-hendrycks2019using-cifar10"
SOURCE = "imagenet32-wrn-40-2"
NOT_IMPORTED = "cifar100-tuned-wrn-40-2"
IMPORTED = tuple(n for n in weights.RELEASES if n != NOT_IMPORTED)  # every kind of release
PAPER_SECTIONS = ["pretraining", "label_noise", "imbalance", "adversarial", "ood", "calibration"]


def test_the_page_follows_the_six_paper_sections_and_trains_nothing():
    assert section_names()[:6] == PAPER_SECTIONS and section_names()[6:] == ["released"]
    assert get_section("released") is SECTION
    for preset in PRESETS:
        assert SECTION.plan(PRESETS[preset]) == [] and SECTION.planned(preset) == []
    assert SETTINGS["smoke"].releases == SETTINGS["quick"].releases == ()
    assert SETTINGS["paper"].releases == tuple(weights.RELEASES)
    dry = SECTION.settings_for(get_run_preset("paper", True))
    assert dry.releases == SETTINGS["paper"].releases
    assert (dry.test_size, dry.ood_samples, dry.attack_size, dry.autoattack_size) == (16, 16, 2, 2)
    assert [release_arm(n) for n in (TUNED, BASELINE, ROBUST, "imagenet32-wrn-40-2")] == \
        ["pretrained", "scratch", "pretrained", "source"]
    with pytest.raises(ValueError, match="cifar10-tuned-wrn-40-2"):
        dataclasses.replace(SETTINGS["paper"], releases=("cifar10-tuned",))


def test_smoke_measures_none_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    session = notebook.start("released", "smoke", None, "cpu")
    assert "releases     : none at this preset" in session.describe()
    assert session.run().empty
    assert "This preset measures no released model" in capsys.readouterr().out
    for name in ("comparison", "per_ood_set"):
        text = session.table(name).data
        assert text.startswith("This preset measures no released model") and "paper" in text
    status = session.table("status")  # every file, how to import it, and that none is measured
    assert list(status.index) == list(weights.RELEASES)
    assert set(status["measured here"]) == {
        "no: the smoke preset measures none (the paper preset does)"}
    assert status.loc[TUNED, "import with"] == f"python -m lib.weights import FILE --as {TUNED}"
    assert session.judged() == []
    assert "no claim" in session.claims().data


def _small(monkeypatch, names):
    """The releases ``names`` as WRN-10-1 networks without a published hash
    (small fixtures; their run keys change with the architecture)."""
    for name in names:
        monkeypatch.setitem(weights.RELEASES, name, dataclasses.replace(
            weights.RELEASES[name], architecture="wrn-10-1", git_blob_sha1=""))


def _import_fixtures(folder, runs_dir, names):
    """What the Makefile's dry run does, through the same command line."""
    for seed, name in enumerate(names):
        path = folder / f"{name}.pt"
        assert weights.main(["fixture", name, str(path), "--seed", str(seed)]) == 0
        assert weights.main(["import", str(path), "--as", name, "--trust",
                             "--runs-dir", str(runs_dir)]) == 0


@pytest.fixture(scope="module")
def miniature(tmp_path_factory):
    root = tmp_path_factory.mktemp("miniature")
    write_miniature(root)  # every dataset: the dry run's preflight checks all sections' data
    return root


@pytest.mark.slow
def test_dry_run_measures_the_fixture_weights_beside_the_published_numbers(
        tmp_path, monkeypatch, capsys, miniature):
    _small(monkeypatch, IMPORTED)
    monkeypatch.setenv("RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    _import_fixtures(tmp_path, tmp_path / "runs" / "dry_run", IMPORTED)
    capsys.readouterr()

    session = notebook.start("released", "paper", str(miniature), "cpu", True)
    rows = session.run()
    printed = capsys.readouterr().out
    assert set(rows.method) == set(IMPORTED) and set(rows.section) == {"released"}
    assert rows[rows.unit == "%"].value.between(0, 100).all()
    assert set(rows[rows.method == ROBUST].metric) == {
        "test_error", "test_nll", "clean_accuracy", "pgd20_accuracy", "autoattack_accuracy"}
    pgd = rows[rows.metric == "pgd20_accuracy"].iloc[0]
    assert (pgd.eval_set, pgd.steps, pgd.n) == ("pgd", 2, 2)  # the dry run's PGD-2
    assert set(rows[(rows.method == TUNED) & (rows.metric == "auroc")].ood_set) >= {
        "gaussian", "textures", "svhn", "places365", "lsun_raw", "cifar100", "mean"}
    assert set(rows[rows.method == TUNED].n) == {16}
    source = rows[rows.method == SOURCE]  # the held-out source test images, shrunk too
    assert set(source.metric) == {"test_error", "test_nll"} and set(source.arm) == {"source"}
    assert set(source.eval_set) == {"source test"} and source.n.max() <= 16

    # every release not imported is named, with where it was looked for and how to get it
    [line] = [x for x in printed.splitlines() if x.startswith("not measured:")]  # data all there
    assert f"'{NOT_IMPORTED}'" in line and str(tmp_path / "runs" / "dry_run") in line
    assert f"python -m lib.weights import FILE --as {NOT_IMPORTED}" in line
    assert weights.RELEASES[NOT_IMPORTED].where in line
    assert "mean" in set(rows[rows.dataset == "tiny_imagenet"].ood_set)
    status = session.table("status")
    assert list(status.index) == list(weights.RELEASES)
    assert (status["measured here"] == "yes").sum() == len(IMPORTED)
    assert status.loc[NOT_IMPORTED, "measured here"].startswith("no")

    table = session.table("comparison")
    assert list(table.columns) == ["ours (this library)", "the paper's", "official log (theirs)",
                                   "RobustBench (theirs)"]
    assert table.loc[(TUNED, "test_error"), "official log (theirs)"] == 3.64
    assert table.loc[(ROBUST, "autoattack_accuracy"), "RobustBench (theirs)"] == 54.92
    assert table.loc[(ROBUST, "clean_accuracy"), "RobustBench (theirs)"] == 87.11
    assert table.loc[(TUNED, "auroc"), "the paper's"] == 94.5
    ours = rows[(rows.method == TUNED) & (rows.metric == "test_error")].value.iloc[0]
    assert table.loc[(TUNED, "test_error"), "ours (this library)"] == round(ours, 2)
    assert math.isnan(table.loc[(NOT_IMPORTED, "test_error"), "ours (this library)"])
    assert table.loc[(NOT_IMPORTED, "test_error"), "official log (theirs)"] == 20.82
    assert list(dict.fromkeys(table.index.get_level_values(0))) == \
        [n for n in weights.RELEASES if n in set(table.index.get_level_values(0))]
    per_set = session.table("per_ood_set")
    assert (TUNED, "mean") in per_set.index and list(per_set.columns) == ["auroc", "aupr", "fpr"]

    judged = {(c.key, c.dataset): c for c in session.judged()}
    with_log = [n for n in IMPORTED if n != "imagenet32-no-cifar10-wrn-40-2"]  # no log
    assert set(judged) == {*((f"released_log_error[{n}]", weights.RELEASES[n].dataset.name)
                             for n in with_log),
                           *(("released_pretraining_error", d) for d in ("cifar10",
                                                                         "tiny_imagenet"))}
    assert judged[(f"released_log_error[{SOURCE}]", "imagenet32")].scratch == 50.80
    assert {c.dataset for c in session.judged()} <= set(rows.dataset)
    log = judged[(f"released_log_error[{TUNED}]", "cifar10")]
    assert (log.scratch, log.pretrained) == (3.64, ours)
    assert log.tolerance == pytest.approx(2 * binomial_se(3.64, 10_000))
    assert log.band > 0 and "16 of the log's 10000" in log.band_kind
    assert log.verdict in SIMILARITY_VERDICTS
    assert judged[("released_pretraining_error", "cifar10")].verdict in VERDICTS
    assert "official log" in session.claims().data

    again = notebook.start("released", "paper", str(miniature), "cpu", True)
    columns = ["method", "metric", "ood_set", "value", "n"]
    pd.testing.assert_frame_equal(again.run()[columns], rows[columns])  # memoized, the same


def _claim_rows(value, n):
    return pd.DataFrame([dict(method=TUNED, dataset="cifar10", metric="test_error",
                              value=value, n=n, unit="%")])


@pytest.mark.parametrize("value, verdict", [
    (3.64, SIMILARITY_VERDICTS[0]),   # the whole test set, the log's number: band 0
    (3.80, SIMILARITY_VERDICTS[0]),   # 16 images more wrong: within 2 SE of 10,000 images
    (4.50, SIMILARITY_VERDICTS[1]),   # a different pipeline (e.g. the wrong normalization)
])
def test_the_reproduction_claim_on_the_whole_test_set(value, verdict):
    settings = dataclasses.replace(SETTINGS["paper"], releases=(TUNED,))
    [claim] = claims(_claim_rows(value, 10_000), settings, PRESETS["paper"])
    assert claim.band == 0 and claim.labels == ("official log", "this library")
    assert claim.verdict == verdict


def test_a_missing_dataset_is_named(tmp_path, monkeypatch, capsys):
    """CIFAR-10 there, the OOD sets but SVHN and CIFAR-100 not: the release is
    measured and each missing OOD set is named (so no mean over the sets)."""
    _small(monkeypatch, [TUNED])
    root, runs = tmp_path / "data", tmp_path / "runs"
    write_miniature(root, datasets=["cifar10", "cifar100", "svhn"])
    _import_fixtures(tmp_path, runs, [TUNED])
    capsys.readouterr()
    dry = get_run_preset("paper", True)
    session = SimpleNamespace(
        settings=dataclasses.replace(SECTION.settings_for(dry), releases=(TUNED,)),
        runs_dir=runs, data_root=root, device="cpu", section=SECTION, preset=dry)
    rows = SECTION.run(session)
    printed = capsys.readouterr().out
    for name in ("textures", "places365", "lsun_raw"):
        assert f"not measured: {TUNED}: OOD set {name!r} not scored" in printed
    assert {r["metric"] for r in rows} >= {"test_error", "auroc", "rms_calibration_error"}
    assert "mean" not in {r.get("ood_set") for r in rows}
