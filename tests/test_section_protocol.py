"""The section protocol's core on a toy section (issue 13, items 1–5 and 9):
per-preset settings, plans with parents first, the one Method shape, and the
Session that runs a section, shows only its own rows, summarises warnings
without paths and offers the rows as a download. Also the one top-1 error."""

from __future__ import annotations

import base64
import io
import warnings
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from lib.claims import Claim
from lib.metrics import top1_error, top1_wrong
from lib.notebook import Session
from lib.presets import PRESETS, DataSpec, Recipe
from lib.provenance import Provenance
from lib.results import COLUMNS, read_results, record_results
from lib.sections.base import DeferredRun, Method, Section, per_preset, planned_configs
from lib.training.run_cache import DiscardedCheckpointWarning
from lib.training.run_config import RunConfig, TrainingDataSpec

# -- per-preset settings ---------------------------------------------------------------------


@dataclass(frozen=True)
class ToySettings:
    epochs: int

    def describe(self) -> str:
        return f"epochs : {self.epochs}"


SETTINGS = {name: ToySettings(i + 1) for i, name in enumerate(PRESETS)}


def test_per_preset_needs_exactly_the_presets():
    assert list(per_preset("toy", SETTINGS)) == list(PRESETS)
    missing = {k: v for k, v in SETTINGS.items() if k != "paper"}
    with pytest.raises(ValueError, match=r"section 'toy' has no settings for preset\(s\) \['paper'\]"):
        per_preset("toy", missing)
    with pytest.raises(ValueError, match=r"unknown preset\(s\) \['huge'\]"):
        per_preset("toy", {**SETTINGS, "huge": ToySettings(9)})


# -- plans ---------------------------------------------------------------------------------------

def config(seed=0, init=None, label=""):
    data = TrainingDataSpec(DataSpec.of("fractal", num_classes=2, per_class=2, size=16))
    return RunConfig("wrn-10-1", 1, data, Recipe(epochs=1, lr=0.1, batch_size=2), seed=seed,
                     init=init, label=label)


def test_planned_configs_adds_parents_first_and_drops_duplicates():
    source = config(seed=9)
    child = config(seed=1, init=source)
    grandchild = config(seed=2, init=child)
    stage2 = DeferredRun("glc stage 2", parents=(child,))
    planned = planned_configs([grandchild, stage2, child, config(seed=1, init=source,
                                                                  label="same run")])
    assert planned == [source, child, grandchild, stage2]


# -- methods -------------------------------------------------------------------------------------

def test_method_shape():
    built = []

    def build(context, arm, cell):
        built.append((arm, cell["seed"]))
        return config(seed=cell["seed"])

    method = Method.single_stage("plain", "Plain", ("scratch", "pretrained"), build,
                                 facts=(("trusted_fraction", 0.05),))
    context = SimpleNamespace(train=lambda c: ("trained", c.seed))
    assert method.plan(context, "scratch", {"seed": 3}) == [config(seed=3)]
    assert method.train(context, "pretrained", {"seed": 4}) == ("trained", 4)
    assert built == [("scratch", 3), ("pretrained", 4)]
    assert method.fact("trusted_fraction") == 0.05 and method.fact("x", 1) == 1
    assert method.stages == 1 and method.in_paper
    with pytest.raises(ValueError, match="arm='source'"):
        Method.single_stage("bad", "Bad", ("source",), build)


# -- a toy section run through a Session ---------------------------------------------------------

def toy_rows(session):
    """Two arms' clean error on 'toy' (rows through session.rows)."""
    rows = []
    for arm, value in (("scratch", 20.0), ("pretrained", 15.0)):
        run = SimpleNamespace(config=SimpleNamespace(seed=0), wall_time_s=1.5, key=f"k-{arm}")
        rows += session.rows(run, [dict(metric="test_error", value=value, unit="%", n=400)],
                             dataset="toy", arm=arm, method="none")
    warnings.warn("run 0123: /home/someone/runs/x/model.pt: sha256 does not match; it will be "
                  "retrained", DiscardedCheckpointWarning)
    return rows


def toy_claims(rows, settings, preset):
    values = rows.set_index("arm").value
    return [Claim(key="clean", section="toy", dataset="toy", statement="pre-training helps",
                  metric="test error", unit="%", scratch=values["scratch"],
                  pretrained=values["pretrained"], better="lower", band=1.0, band_kind="toy",
                  seeds=1, magnitude=25.0, magnitude_name="relative reduction (%)",
                  paper_values="—", paper_magnitude="—", preset=preset.name)]


def toy_table(rows, settings, preset):
    return rows.pivot_table(index="dataset", columns="arm", values="value")


def toy_sentence(rows, settings, preset):
    return f"{len(rows)} rows at {settings.epochs} epoch(s)"


def toy_figure(rows, settings, preset):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.bar(rows.arm, rows.value)
    return fig


TOY = Section("toy", "A toy section", "§0", SETTINGS, plan=lambda preset: [config()],
              run=toy_rows, claims=toy_claims,
              tables={"errors": toy_table, "sentence": toy_sentence},
              figures={"bars": toy_figure})


def session(tmp_path, build="b1") -> Session:
    return Session(TOY, PRESETS["smoke"], torch.device("cpu"), None,
                   Provenance(preset="smoke", device="cpu"), build, results_dir=tmp_path)


def test_section_checks_names():
    with pytest.raises(ValueError, match="toy table='nope'"):
        TOY.table("nope", pd.DataFrame(), "smoke")
    with pytest.raises(ValueError, match="toy figure='nope'"):
        TOY.figure("nope", pd.DataFrame(), "smoke")
    with pytest.raises(ValueError, match="preset='huge'"):
        TOY.settings_for("huge")
    assert TOY.settings_for(PRESETS["quick"]) == SETTINGS["quick"]
    assert TOY.planned("smoke") == [config()]


def test_session_needs_a_run_before_drawing(tmp_path):
    with pytest.raises(RuntimeError, match=r"call session.run\(\)"):
        session(tmp_path).table("errors")


def test_session_runs_records_and_shows_only_its_own_rows(tmp_path, capsys):
    record_results([dict(section="toy", dataset="toy", arm="scratch", method="none", seed=5,
                         metric="test_error", value=99.0, unit="%", build="old")], "smoke",
                   tmp_path)
    s = session(tmp_path)
    rows = s.run()
    assert list(rows.columns) == COLUMNS and len(rows) == 2
    assert set(rows.build) == {"b1"} and set(rows.preset) == {"smoke"}
    assert set(rows.device) == {"cpu"} and set(rows.run_key) == {"k-scratch", "k-pretrained"}
    assert (rows.wall_time_s == 1.5).all() and (rows.section == "toy").all()
    assert len(read_results("smoke", tmp_path)) == 3  # the store keeps the older build's row
    pd.testing.assert_frame_equal(read_results("smoke", tmp_path, build="b1")[["arm", "value"]],
                                  rows[["arm", "value"]])
    out = capsys.readouterr().out
    assert "A toy section: 0 run(s) trained, 0 taken from the run cache, 2 result rows" in out
    # the warning in words, without the machine's path
    assert "note: an unusable cached checkpoint (truncated, altered or foreign) was retrained" \
        in out and "/home/someone" not in out
    table = s.table("errors")
    assert table.loc["toy", "scratch"] == 20.0 and table.loc["toy", "pretrained"] == 15.0
    assert s.table("sentence").data == "2 rows at 1 epoch(s)"  # a string is shown as Markdown
    (claim,) = s.judged()
    assert claim.verdict == "same direction as the paper" and s.judged()[0] is claim
    assert "Verdict: **same direction as the paper**" in s.claims().data


def test_download_is_this_executions_rows(tmp_path):
    s = session(tmp_path)
    s.run()
    html = s.download().data
    assert 'download="toy_smoke_rows.csv"' in html and "2 result rows" in html
    payload = html.split("base64,", 1)[1].split('"', 1)[0]
    frame = pd.read_csv(io.StringIO(base64.b64decode(payload).decode()))
    assert len(frame) == 2 and set(frame.build) == {"b1"}


def test_figure_is_displayed_and_closed(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda fig: shown.append(fig))
    s = session(tmp_path)
    s.run()
    s.figure("bars")
    assert len(shown) == 1 and not plt.fignum_exists(shown[0].number)


def test_start_validates_parameters_first():
    from lib import notebook

    with pytest.raises(TypeError, match="preset=3"):
        notebook.start("pretraining", 3)
    with pytest.raises(ValueError, match="preset='huge'"):
        notebook.start("pretraining", "huge")
    with pytest.raises(ValueError, match="section='toy'"):
        notebook.start("toy", "smoke")
    with pytest.raises(TypeError, match="data_root=5"):
        notebook.start("pretraining", "smoke", 5)
    a, b = notebook.start("pretraining", "smoke", device="cpu"), \
        notebook.start("pretraining", "smoke", "", "cpu")
    assert a.build != b.build and a.data_root is None and b.data_root is None


# -- the one top-1 error ---------------------------------------------------------------------

def test_top1_error():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 3.0], [1.0, 0.0, 0.5], [0.1, 0.2, 0.0]])
    labels = np.array([0, 1, 0, 1])
    assert top1_wrong(logits, labels).tolist() == [False, True, False, False]
    assert top1_error(logits, labels) == 0.25
    assert top1_error(torch.tensor(logits), torch.tensor(labels)) == 0.25  # tensors too
    assert top1_error(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), labels) == 0.25
    with pytest.raises(ValueError, match="N×K"):
        top1_error(logits[0], labels[:1])
    with pytest.raises(ValueError, match="N×K"):
        top1_error(logits, labels[:3])
    with pytest.raises(ValueError, match="at least one example"):
        top1_error(np.zeros((0, 3)), np.zeros(0, dtype=int))
