"""The errors a user meets through papermill, end to end (issue: the companion
as a whole, item 4; the paper preset, item 5): a parameter of the wrong type or
value, ``device=cuda`` on a machine without a GPU, and a data root missing the
paper preset's datasets fail in the notebook's first code cell with one clear
message, before anything is trained or recorded."""

from __future__ import annotations

from pathlib import Path

import papermill
import pytest
import torch

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "04_ood_detection.ipynb"


def _execute(tmp_path, monkeypatch, **parameters) -> str:
    runs, results = tmp_path / "runs", tmp_path / "results"
    monkeypatch.setenv("RUNS_DIR", str(runs))
    monkeypatch.setenv("RESULTS_DIR", str(results))
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        papermill.execute_notebook(str(NOTEBOOK), str(tmp_path / "out.ipynb"),
                                   parameters=parameters, progress_bar=False,
                                   kernel_name="python3")
    assert not runs.exists() or not any(runs.iterdir()), "a run was written"
    assert not results.exists() or not any(results.iterdir()), "a result was recorded"
    return f"{failure.value.ename}: {failure.value.evalue}"


@pytest.mark.parametrize("parameters,message", [
    (dict(preset=3), "TypeError: preset=3"),
    (dict(preset="huge"), "ValueError: preset='huge'"),
    (dict(preset="smoke", data_root=5), "TypeError: data_root=5"),
    (dict(preset="smoke", cpu_precision="fp16"), "ValueError: cpu_precision='fp16' (CPU_PRECISION)"),
])
def test_bad_papermill_parameter_fails_in_the_first_cell(tmp_path, monkeypatch, parameters,
                                                         message):
    error = _execute(tmp_path, monkeypatch, **parameters)
    assert error.startswith(message), error


def test_device_cuda_without_a_gpu_names_the_choices(tmp_path, monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    error = _execute(tmp_path, monkeypatch, preset="smoke", device="cuda")
    assert error.startswith("RuntimeError") and "no CUDA GPU" in error and "cpu" in error, error


def test_paper_preset_on_an_empty_data_root_names_every_missing_dataset(tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    error = _execute(tmp_path, monkeypatch, preset="paper", data_root=str(root), device="cpu")
    first = error.splitlines()[0]
    assert first.startswith("MissingDatasetsError: ") and str(root) in first, error
    for name in ("cifar10", "cifar100", "imagenet32", "svhn", "tiny_imagenet"):
        assert name in first
    assert not any(root.iterdir()), "something was written into the data root"


def test_the_cpu_bf16_opt_in_is_stated_on_the_page_header(monkeypatch):
    """``cpu_precision="bf16"`` is said once, in the settings the first cell prints
    (terminal and page), with whether this CPU has native bf16; float32 says nothing."""
    from lib import notebook
    from lib.training import precision

    monkeypatch.setattr(precision, "native_cpu_bf16", lambda: False)
    opted = notebook.start("ood", "smoke", device="cpu", cpu_precision="bf16").describe()
    plain = notebook.start("ood", "smoke", device="cpu").describe()
    assert opted.count("cpu_precision='bf16' (opt-in): this CPU has no native bf16") == 1
    assert "opt-in" not in plain and "float32 on the CPU" in plain
