"""Progress reporting, provenance and the generated book pages."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from lib.book import dataset_table, timings_table
from lib.execution import execute
from lib.data import dataset_names
from lib.provenance import Provenance
from lib.training.engine import EpochRecord
from lib.training.progress import RunProgress, SweepProgress, console
from notebook_files import tiny_notebook

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_progress_log(monkeypatch):
    """Outside ``make book`` no progress log is set (each test sets its own)."""
    monkeypatch.delenv("PROGRESS_LOG", raising=False)


def test_run_progress_prints_plain_lines_and_logs(tmp_path, capsys):
    progress = RunProgress("demo", epochs=2, batches_per_epoch=3, log_path=tmp_path / "x.log")
    progress.start_epoch(1)
    progress.on_batch(0, 128, 1.0)
    progress.end_epoch(EpochRecord(1, 0.5, 0.75, 0.1, 1234.0, 1.0, test_error=0.2))
    out = capsys.readouterr().out
    assert "demo epoch 1/2 loss 0.5000 acc 75.00%" in out and "1234 img/s" in out
    assert "test err 20.00%" in (tmp_path / "x.log").read_text()


def test_progress_goes_to_progress_log_when_set(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PROGRESS_LOG", str(tmp_path / "logs" / "nb.progress.log"))
    progress = RunProgress("demo", epochs=1, batches_per_epoch=1, log_path=tmp_path / "run.log")
    progress.end_epoch(EpochRecord(1, 0.5, 0.75, 0.1, 1234.0, 1.0))
    console("another line")
    assert capsys.readouterr().out == ""
    lines = (tmp_path / "logs" / "nb.progress.log").read_text().splitlines()
    assert lines[0].startswith("demo epoch 1/1 loss 0.5000") and lines[1] == "another line"
    assert "demo epoch 1/1" in (tmp_path / "run.log").read_text()  # and the run's own log


def test_progress_inside_a_kernel_stays_off_the_page(tmp_path, monkeypatch, capsys):
    """In a notebook kernel without $PROGRESS_LOG the lines go to
    <runs dir>/progress.log: never into a cell's output."""
    import lib.training.progress as progress

    monkeypatch.setattr(progress, "_in_kernel", lambda: True)
    monkeypatch.setenv("RUNS_DIR", str(tmp_path / "runs"))
    RunProgress("demo", 1, 1, log_path=tmp_path / "run.log").message("resuming after epoch 1")
    SweepProgress(2, "label noise").update(from_cache=True)
    assert capsys.readouterr().out == ""
    text = (tmp_path / "runs" / "progress.log").read_text()
    assert "demo: resuming after epoch 1" in text and "[label noise] 1/2 done" in text


def test_sweep_progress_counts_done_cached_left(capsys):
    sweep = SweepProgress(3, "label noise")
    sweep.update(from_cache=True)
    sweep.update(from_cache=False, label="s=0.4")
    assert "2/3 done (1 from cache, 1 trained, 1 left) s=0.4" in capsys.readouterr().out


def test_provenance_summary_names_preset_device_commit():
    text = Provenance(preset="quick", device="cpu").summary()
    assert "preset **quick**" in text and "device cpu" in text and "commit `" in text


def test_dataset_table_lists_every_registered_dataset():
    table = dataset_table()
    for name in dataset_names():
        assert f"`{name}`" in table


def test_timings_table_reads_papermill_metadata(tmp_path):
    assert "No notebook" in timings_table(tmp_path)
    nb = {"cells": [], "metadata": {"papermill": {"duration": 90.0, "end_time": "2026-01-01T10:00:00",
                                                  "parameters": {"preset": "quick"}}}}
    (tmp_path / "00_x.ipynb").write_text(json.dumps(nb))
    assert "| 00_x | quick | 1.5 min |" in timings_table(tmp_path)


def test_reference_build_table_reads_the_recorded_build(tmp_path):
    from lib.book import reference_build_table

    assert "No reference build" in reference_build_table(tmp_path / "missing.json")
    stage = {"rc": 0, "wall_s": 600.0, "install_and_data_s": 60.0, "html_s": 30.0,
             "notebooks_s": {"00_x": 300.0, "01_y": 210.0}}
    record = {"preset": "quick", "commit": "abc1234", "date": "2026-01-01 10:00 UTC",
              "cpu_cores": 2, "machine": "x86_64, Linux", "python": "3.11.2", "cold": stage,
              "second_run": {**stage, "wall_s": 90.0, "notebooks_s": {"00_x": 6.0}},
              "budget_s": {"cold": 2400, "second_run": 120}}
    (tmp_path / "build.json").write_text(json.dumps(record))
    table = reference_build_table(tmp_path / "build.json")
    assert "commit `abc1234`" in table and "| 00_x | 5.0 min | 0.1 min |" in table
    assert "| 01_y | 3.5 min | — |" in table
    assert "| **total** | **10.0 min** | **1.5 min** |" in table and "| budget | 40.0 min | 2.0 min |" in table
    assert "failed" not in table and "images/s" not in table
    (tmp_path / "scaled.json").write_text(json.dumps(
        {**record, "aim_s": {"cold": 1500}, "engine_images_per_s": {"float32": 919.4, "bf16": 1671.0}}))
    scaled = reference_build_table(tmp_path / "scaled.json")
    assert "| aim where recorded | 25.0 min | |" in scaled
    assert "float32 engine trains WRN-16-1 at 919 images/s" in scaled
    (tmp_path / "failed.json").write_text(json.dumps({**record, "cold": {**stage, "rc": 2},
                                                      "second_run": None}))
    assert "The build failed" in reference_build_table(tmp_path / "failed.json")


def test_make_rejects_an_unknown_preset_in_seconds():
    result = subprocess.run(["make", "-s", "book", "PRESET=huge"], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert "preset='huge'" in result.stderr and "'smoke', 'quick', 'paper'" in result.stderr


def test_terminal_bar_shows_loss_accuracy_and_speed(monkeypatch, capsys):
    import sys

    import torch

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    progress = RunProgress("demo", epochs=1, batches_per_epoch=2)
    assert progress.interactive
    progress.start_epoch(1)
    progress.on_batch(0, 128, torch.tensor(0.5), torch.tensor(64))
    postfix = progress._bar.postfix
    assert "loss=0.500" in postfix and "acc=50.0%" in postfix and "img/s=" in postfix
    progress.end_epoch(EpochRecord(1, 0.5, 0.5, 0.1, 100.0, 1.0))


def test_class_exclusion_table_counts_the_shipped_lists():
    from lib.book import class_exclusion_table
    from lib.data.class_exclusion import load_class_list

    table = class_exclusion_table()
    for name in ("cifar10_related", "tiny_imagenet"):
        assert f"| `{name}` | {len(load_class_list(name))} |" in table


# -- make book's execution of one notebook (lib.execution.execute) --------------------------------

PROGRESS_CELL = ("from lib.training.progress import console\n"
                 "console('demo epoch 1/2 loss 0.5')\nprint('on the page:', preset)")


def outputs_text(path: Path) -> str:
    nb = nbformat.read(str(path), as_version=4)
    return json.dumps([c.get("outputs", []) for c in nb.cells])


@pytest.mark.slow
def test_execute_streams_progress_to_the_terminal_not_the_page(tmp_path, capfd):
    source = tiny_notebook(tmp_path / "00_demo.ipynb", PROGRESS_CELL,
                           "from lib.training.progress import _in_kernel\nassert _in_kernel()")
    executed = tmp_path / "executed"
    final = execute(source, executed, {"preset": "quick"}, out=sys.stdout)
    assert final == executed / "00_demo.ipynb" and final.exists()
    terminal = capfd.readouterr().out
    assert "demo epoch 1/2 loss 0.5" in terminal and "on the page: quick" in terminal
    page = outputs_text(final)
    assert "on the page: quick" in page and "demo epoch" not in page
    assert "demo epoch 1/2" in (executed / "logs" / "00_demo.progress.log").read_text()
    assert not list((executed / ".partial").iterdir())
    assert "PROGRESS_LOG" not in os.environ  # restored
    tags = [c.metadata.get("tags", []) for c in nbformat.read(str(final), as_version=4).cells]
    assert "remove-cell" in tags[0] and "parameters" in tags[0]  # the defaults: not on the page
    assert tags[1] == ["injected-parameters", "hide-input"]  # the values used: collapsed


def good_executed(tmp_path) -> tuple[Path, bytes]:
    executed = tmp_path / "executed"
    executed.mkdir()
    good = tiny_notebook(executed / "00_demo.ipynb", "print('the last good build')")
    return executed, good.read_bytes()


@pytest.mark.slow
def test_a_failed_notebook_never_replaces_the_last_good_one(tmp_path, capfd):
    import papermill

    executed, before = good_executed(tmp_path)
    source = tiny_notebook(tmp_path / "00_demo.ipynb", PROGRESS_CELL,
                           "raise RuntimeError('a DEVICE=gpu typo')")
    with pytest.raises(papermill.PapermillExecutionError, match="a DEVICE=gpu typo"):
        execute(source, executed, {"device": "gpu"}, out=sys.stdout)
    assert (executed / "00_demo.ipynb").read_bytes() == before
    failed = executed / ".failed" / "00_demo.ipynb"
    assert "a DEVICE=gpu typo" in outputs_text(failed)  # kept aside, to read
    terminal = capfd.readouterr().out
    assert "the last good" in terminal and "demo epoch 1/2" in terminal
    # one line names the failing cell's error; its traceback goes to the log, not the terminal
    said = [line for line in terminal.splitlines() if "typo" in line]
    assert len(said) == 1 and "failed: RuntimeError: a DEVICE=gpu typo" in said[0], terminal
    assert "Traceback" not in terminal and "------" not in terminal
    log = (executed / "logs" / "00_demo.error.log").read_text()
    assert "raise RuntimeError('a DEVICE=gpu typo')" in log and "RuntimeError" in log


@pytest.mark.slow
def test_a_killed_notebook_never_replaces_the_last_good_one(tmp_path):
    """``kill -9`` of the whole execution (make interrupted, the machine's OOM
    killer) while a cell runs: the last good notebook stays."""
    executed, before = good_executed(tmp_path)
    source = tiny_notebook(tmp_path / "00_demo.ipynb", PROGRESS_CELL,
                           "import time\ntime.sleep(20)")
    command = [sys.executable, "-m", "lib.execution", str(source), str(executed),
               "-p", "preset", "smoke"]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    log = executed / "logs" / "00_demo.progress.log"
    deadline = time.monotonic() + 120
    while not (log.exists() and "demo epoch" in log.read_text()):
        assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert (executed / "00_demo.ipynb").read_bytes() == before


@pytest.mark.slow
def test_make_notebooks_keeps_the_last_good_notebook_and_prints_times(tmp_path):
    """The Makefile's loop itself: a failing notebook fails make and keeps the
    last good executed notebook; a good one prints its progress and time."""
    executed, before = good_executed(tmp_path)
    failing = tiny_notebook(tmp_path / "00_demo.ipynb", "raise RuntimeError('boom')")
    args = ["make", "-s", "notebooks", "PRESET=smoke", f"EXECUTED={executed}"]
    result = subprocess.run([*args, f"NOTEBOOKS={failing}"], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    said = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in said and "-----" not in said, said
    assert [line for line in said.splitlines() if "boom" in line] == [
        f"!! 00_demo.ipynb failed: RuntimeError: boom (traceback in {executed}/logs/"
        f"00_demo.error.log; the last good {executed}/00_demo.ipynb is kept; the failed "
        f"execution is in {executed}/.failed/00_demo.ipynb)"]
    assert "Traceback" in (executed / "logs" / "00_demo.error.log").read_text()
    assert (executed / "00_demo.ipynb").read_bytes() == before
    working = tiny_notebook(tmp_path / "01_demo.ipynb", PROGRESS_CELL)
    result = subprocess.run([*args, f"NOTEBOOKS={working}"], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "demo epoch 1/2 loss 0.5" in result.stdout and "on the page: smoke" in result.stdout
    assert "== 01_demo.ipynb done in 0 min" in result.stdout
    assert "demo epoch" not in outputs_text(executed / "01_demo.ipynb")


# -- the page check (benchmarks/page_layout.py) ----------------------------------------------

@pytest.mark.slow
def test_page_layout_finds_a_first_table_beyond_the_second_screen(tmp_path):
    import importlib.util
    import shutil

    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("headless Chromium is not installed (apt-get install chromium chromium-driver)")
    spec = importlib.util.spec_from_file_location("page_layout", REPO / "benchmarks" /
                                                  "page_layout.py")
    page_layout = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(page_layout)
    html = tmp_path / "html"
    (html / "book" / "executed").mkdir(parents=True)
    page = "<html><body><main><article><h1>{}</h1><p style='height:{}px'>prose</p>{}" \
           "</article></main></body></html>"
    (html / "book" / "intro.html").write_text(page.format("Intro", 10, ""))
    (html / "book" / "executed" / "00_near.html").write_text(
        page.format("Near", 900, "<table><tr><td>1</td></tr></table>"))
    (html / "book" / "executed" / "01_far.html").write_text(
        page.format("Far", 1700, "<table><tr><td>1</td></tr></table>"))
    result = page_layout.measure(html, tmp_path / "out" / "page_layout.json")
    by_page = {r["page"]: r for r in result["pages"]}
    assert not result["ok"] and set(by_page) == {"book/intro.html", "book/executed/00_near.html",
                                                 "book/executed/01_far.html"}
    near, far = by_page["book/executed/00_near.html"], by_page["book/executed/01_far.html"]
    assert near["ok"] and 1 < near["first"]["screens"] < 2 and near["first"]["tag"] == "table"
    assert not far["ok"] and far["first"]["screens"] > 2
    assert by_page["book/intro.html"]["ok"] and not by_page["book/intro.html"]["section"]
    for record in result["pages"]:
        png = tmp_path / "out" / record["screenshot"]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size < 200_000
    assert json.loads((tmp_path / "out" / "page_layout.json").read_text()) == result


def test_unfinished_executions_are_never_pages():
    """A failed or killed execution (book/executed/.failed, .partial) must not
    reach the HTML build: with --warningiserror it would even fail it."""
    import yaml
    from sphinx.util.matching import Matcher

    config = yaml.safe_load((REPO / "_config.yml").read_text())
    excluded = Matcher(config["exclude_patterns"])
    for path in ("book/executed/.failed/00_pretraining.ipynb",
                 "book/executed/.partial/01_label_corruption.ipynb",
                 "book/executed/logs/00_pretraining.progress.log"):
        assert excluded(path), path
    assert not excluded("book/executed/00_pretraining.ipynb")
