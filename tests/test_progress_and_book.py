"""Progress reporting, provenance and the generated book pages."""

import json
import subprocess
from pathlib import Path

from lib.book import dataset_table, timings_table
from lib.data import dataset_names
from lib.provenance import Provenance
from lib.training.engine import EpochRecord
from lib.training.progress import RunProgress, SweepProgress

REPO = Path(__file__).resolve().parents[1]


def test_run_progress_prints_plain_lines_and_logs(tmp_path, capsys):
    progress = RunProgress("demo", epochs=2, batches_per_epoch=3, log_path=tmp_path / "x.log")
    progress.start_epoch(1)
    progress.on_batch(0, 128, 1.0)
    progress.end_epoch(EpochRecord(1, 0.5, 0.75, 0.1, 1234.0, 1.0, test_error=0.2))
    out = capsys.readouterr().out
    assert "demo epoch 1/2 loss 0.5000 acc 75.00%" in out and "1234 img/s" in out
    assert "test err 20.00%" in (tmp_path / "x.log").read_text()


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
    assert "failed" not in table
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
