"""The evaluation memo (issue 13, item 6): keyed by the run's key and
checkpoint digest, the evaluated data's spec, the parameters that change the
result, the device type and the evaluation's version — and by nothing else."""

import json
import os
import stat
from types import SimpleNamespace

import pytest
import torch

import lib.evaluation.memo as memo
from lib.evaluation.memo import evaluation_key, memoized
from lib.presets import DataSpec
from lib.training.run_config import EvalDataSpec

TEST = EvalDataSpec(DataSpec.of("fashion_mnist"), size=200)


def fake_run(key="a" * 16, digest="d" * 64, **extra):
    """What the memo reads of a TrainedRun: its key and checkpoint digest."""
    return SimpleNamespace(key=key, digest=digest, **extra)


class Counter:
    """A compute() that counts its calls and returns the call number."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return {"error": 10.0 + self.calls, "n": 200}


def call(tmp_path, compute, *, name="clean", run=None, data=(TEST,), params=None,
         device="cpu", version=1):
    return memoized(name, run or fake_run(), list(data), {"eps": 0.1} if params is None
                    else params, compute, device=device, runs_dir=tmp_path, version=version)


def test_second_call_reads_the_memo(tmp_path):
    compute = Counter()
    first = call(tmp_path, compute)
    second = call(tmp_path, compute)
    assert first == second == {"error": 11.0, "n": 200} and compute.calls == 1
    (entry,) = (tmp_path / "evaluations").iterdir()
    stored = json.loads(entry.read_text())
    assert stored["run"] == {"key": "a" * 16, "digest": "d" * 64} and stored["result"] == first


@pytest.mark.parametrize("change", [
    dict(run=fake_run(key="b" * 16)),                               # another run
    dict(run=fake_run(digest="e" * 64)),                            # same key, other weights
    dict(data=(EvalDataSpec(DataSpec.of("fashion_mnist"), size=300),)),
    dict(data=(EvalDataSpec(DataSpec.of("fashion_mnist"), size=200, seed=1),)),
    dict(data=(TEST, EvalDataSpec(DataSpec.of("gaussian")))),      # another OOD set added
    dict(data=({"images": "pgd", "of": TEST.to_dict(), "steps": 20},)),
    dict(params={"eps": 0.2}),                                      # a result-changing parameter
    dict(params={"eps": 0.1, "steps": 20}),
    dict(device="cuda"),                                            # another device type
    dict(version=2),                                                # the evaluation's code changed
    dict(name="ood"),
])
def test_what_determines_the_result_changes_the_key(tmp_path, change):
    compute = Counter()
    call(tmp_path, compute)
    call(tmp_path, compute, **change)
    assert compute.calls == 2
    assert len(list((tmp_path / "evaluations").iterdir())) == 2


@pytest.mark.parametrize("same", [
    dict(run=fake_run(label="another label", path="/elsewhere/model.pt", from_cache=False)),
    dict(data=(TEST.to_dict(),)),                                   # a spec or its dict
    dict(params={"eps": 0.1}),                                      # equal params, new dict
    dict(device=torch.device("cpu")),
    dict(device="cpu:0"),
])
def test_nothing_else_changes_the_key(tmp_path, same):
    compute = Counter()
    call(tmp_path, compute)
    assert call(tmp_path, compute, **same) == {"error": 11.0, "n": 200}
    assert compute.calls == 1


def test_cuda_devices_share_entries(tmp_path):
    compute = Counter()
    call(tmp_path, compute, device="cuda:0")
    call(tmp_path, compute, device=torch.device("cuda", 1))
    assert compute.calls == 1


def test_key_is_stable_and_ignores_param_order():
    key = evaluation_key("clean", fake_run(), [TEST], {"eps": 0.1, "steps": 20, "device": "cpu"})
    assert key == evaluation_key("clean", fake_run(), [TEST],
                                 {"device": "cpu", "steps": 20, "eps": 0.1})
    assert len(key) == 24 and int(key, 16) >= 0


def test_only_what_can_be_written_as_json_keys_an_evaluation():
    """Numpy scalars are numbers; an object known only by its repr (its address,
    a page's settings) is refused instead of keying on text that changes."""
    import numpy as np

    assert evaluation_key("clean", fake_run(), [TEST], {"steps": np.int64(20)}) == \
        evaluation_key("clean", fake_run(), [TEST], {"steps": 20})
    with pytest.raises(TypeError, match="cannot key an evaluation"):
        evaluation_key("clean", fake_run(), [TEST], {"settings": object()})


def test_key_is_the_same_in_a_fresh_process():
    """A second build (another process) finds the first build's entries."""
    import subprocess
    import sys

    code = ("from types import SimpleNamespace as S; from lib.evaluation.memo import "
            "evaluation_key as k; from lib.presets import DataSpec as D; "
            "from lib.training.run_config import EvalDataSpec as E; "
            "print(k('clean', S(key='a'*16, digest='d'*64), [E(D.of('fashion_mnist'), size=200)],"
            " {'eps': 0.1}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == evaluation_key("clean", fake_run(), [TEST], {"eps": 0.1})


@pytest.mark.parametrize("damage", ["{not json", "", json.dumps({"name": "clean"}), "[1, 2]"])
def test_unreadable_entry_is_recomputed(tmp_path, damage):
    compute = Counter()
    call(tmp_path, compute)
    (entry,) = (tmp_path / "evaluations").iterdir()
    entry.write_text(damage)
    assert call(tmp_path, compute) == {"error": 12.0, "n": 200} and compute.calls == 2
    assert call(tmp_path, compute) == {"error": 12.0, "n": 200} and compute.calls == 2  # rewritten


def test_nan_round_trips(tmp_path):
    """A class with no test image has a NaN error; the memo returns it as NaN."""
    import math

    first = call(tmp_path, lambda: {"class_error": [1.0, math.nan]})
    second = call(tmp_path, lambda: pytest.fail("evaluated twice"))
    assert first["class_error"][0] == second["class_error"][0] == 1.0
    assert math.isnan(second["class_error"][1])


def test_a_memo_that_cannot_be_written_still_returns_results(tmp_path, monkeypatch):
    """Whatever the user (root included): a failing write warns and returns."""
    compute = Counter()
    call(tmp_path, compute)

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr(memo, "atomic_write_json", read_only)
    assert call(tmp_path, compute) == {"error": 11.0, "n": 200}  # served from the memo
    with pytest.warns(RuntimeWarning, match="memo not written"):
        assert call(tmp_path, compute, params={"eps": 0.3}) == {"error": 12.0, "n": 200}
    assert compute.calls == 2


def test_read_only_runs_dir_serves_cached_and_computes_missing(tmp_path):
    compute = Counter()
    runs = tmp_path / "runs"
    call(runs, compute)
    evaluations = runs / "evaluations"
    modes = {p: p.stat().st_mode for p in (runs, evaluations)}
    for p in modes:
        p.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    try:
        if os.access(evaluations, os.W_OK):
            pytest.skip("chmod does not make a directory read-only for this user (root)")
        assert call(runs, compute) == {"error": 11.0, "n": 200} and compute.calls == 1
        with pytest.warns(RuntimeWarning, match="memo not written"):
            assert call(runs, compute, params={"eps": 0.3}) == {"error": 12.0, "n": 200}
        with pytest.warns(RuntimeWarning, match="memo not written"):
            call(runs, compute, params={"eps": 0.3})  # not stored: computed again
        assert compute.calls == 3
        assert len(list(evaluations.iterdir())) == 1
    finally:
        for p, mode in modes.items():
            p.chmod(mode)
