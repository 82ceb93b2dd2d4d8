"""The disk memo for expensive evaluations."""

import torch

from lib.data.base import ImageDataset
from lib.evaluation.memo import memoized
from lib.models import build_model


def fixtures():
    torch.manual_seed(0)
    model = build_model("wrn-10-1", 3, 1)
    data = ImageDataset(torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.arange(4) % 3, 3)
    return model, data


def test_second_call_reads_the_memo(tmp_path):
    model, data = fixtures()
    calls = []

    def compute():
        calls.append(1)
        return [{"metric": "acc", "value": 0.5}]

    first = memoized("demo", model, [data], {"eps": 0.1}, compute, runs_dir=tmp_path)
    second = memoized("demo", model, [data], {"eps": 0.1}, compute, runs_dir=tmp_path)
    assert first == second == [{"metric": "acc", "value": 0.5}] and len(calls) == 1


def test_weights_data_or_params_change_the_key(tmp_path):
    model, data = fixtures()
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    memoized("demo", model, [data], {"eps": 0.1}, compute, runs_dir=tmp_path)
    memoized("demo", model, [data], {"eps": 0.2}, compute, runs_dir=tmp_path)
    memoized("demo", model, [data.relabel(torch.zeros(4, dtype=torch.int64))], {"eps": 0.1},
             compute, runs_dir=tmp_path)
    with torch.no_grad():
        model.classifier.bias.add_(1.0)
    memoized("demo", model, [data], {"eps": 0.1}, compute, runs_dir=tmp_path)
    assert len(calls) == 4


def test_corrupt_entry_is_recomputed(tmp_path):
    model, data = fixtures()
    memoized("demo", model, [data], {}, lambda: 1, runs_dir=tmp_path)
    (entry,) = (tmp_path / "evaluations").iterdir()
    entry.write_text("{not json")
    assert memoized("demo", model, [data], {}, lambda: 2, runs_dir=tmp_path) == 2


def test_imbalance_evaluation_round_trips_through_the_memo(tmp_path, monkeypatch):
    """A class with no test images has a NaN error; the memoized result equals
    the computed one, NaN included, and the model is not run again."""
    import math
    from types import SimpleNamespace

    from lib.sections import imbalance

    monkeypatch.setenv("RUNS_DIR", str(tmp_path))
    model, data = fixtures()
    run = SimpleNamespace(model=model)
    data = data.relabel(torch.tensor([0, 0, 1, 1]))  # class 2 has no test image
    device = torch.device("cpu")
    first = imbalance.evaluate_run(run, data, [3, 1, 2], device)
    monkeypatch.setattr(imbalance, "predict_logits", lambda *a: (_ for _ in ()).throw(
        AssertionError("evaluated twice")))
    second = imbalance.evaluate_run(run, data, [3, 1, 2], device)
    assert first["error"] == second["error"] and first["minority_error"] == second["minority_error"]
    assert first["class_error"][:2] == second["class_error"][:2]
    assert math.isnan(first["class_error"][2]) and math.isnan(second["class_error"][2])
