"""The run cache: keys, atomic verified checkpoints, resume, corruption, shipped copies;
many workers on one cache (issue 16, item 3); a damaged shipped checkpoint (issue 15, item 5)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

import lib.training.run_cache as run_cache
from lib.presets import DataSpec, Recipe
from lib.training import RunConfig, TrainingDataSpec, train_or_load
from lib.training.checkpoints import (
    CorruptCheckpointError,
    load_verified,
    manifest_path,
    save_verified,
)
from lib.training.locks import RunLock
from lib.training.run_cache import DamagedShippedCheckpointError

TINY = DataSpec.of("fractal", num_classes=4, per_class=12, size=16, channels=1, seed=3)


def tiny_config(**changes):
    base = dict(architecture="wrn-10-1", in_channels=1, data=TrainingDataSpec(TINY),
                recipe=Recipe(epochs=3, lr=0.05, batch_size=16, dropout=0.3), seed=1)
    base.update(changes)
    return RunConfig(**base)


def weights(run):
    return {k: v.detach().cpu().clone() for k, v in run.model.state_dict().items()}


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_key_changes_with_everything_that_determines_weights():
    base = tiny_config()
    assert base.key() == tiny_config().key()
    assert tiny_config(label="another name").key() == base.key()
    for changed in (tiny_config(seed=2), tiny_config(recipe=Recipe(epochs=3, lr=0.1, batch_size=16)),
                    tiny_config(architecture="wrn-16-1"),
                    tiny_config(data=TrainingDataSpec(TINY, size=40)),
                    tiny_config(init=tiny_config(seed=5)), tiny_config(cpu_autocast=True)):
        assert changed.key() != base.key()
    assert "cpu_autocast" not in base.to_dict()  # off: the keys of older runs stand


def test_a_cpu_autocast_run_trains_under_cpu_bf16_and_records_it(tmp_path, autocast_calls):
    """``cpu_autocast`` runs enter bf16 autocast on the CPU; the provenance names the precision."""
    runs = tmp_path / "runs"
    plain = train_or_load(tiny_config(), root=tmp_path, runs_dir=runs, device="cpu",
                          verbose=False)
    assert plain.info["precision"] == "float32" and set(autocast_calls) == {"cpu"}
    autocast_calls.clear()
    bf16 = train_or_load(tiny_config(cpu_autocast=True), root=tmp_path, runs_dir=runs,
                         device="cpu", verbose=False)
    assert bf16.info["precision"] == "bf16 autocast" and set(autocast_calls) == {"cpu+cpu-bf16"}
    assert all(p.dtype == torch.float32 for p in bf16.model.parameters())  # master weights
    with pytest.raises(TypeError, match="cpu_autocast"):
        tiny_config(cpu_autocast="yes")


def test_every_preset_trains_in_float32_on_the_cpu_and_bf16_is_an_opt_in():
    """Issue 23: no preset's key depends on the CPU's bf16; ``cpu_precision="bf16"``
    asks for it on the target runs only (the sources keep their shipped keys)."""
    from lib.experiments import finetune_run, scratch_run, source_run
    from lib.presets import get_preset, get_run_preset, preset_names

    for name in preset_names():
        preset = get_preset(name)
        assert not preset.cpu_autocast
        assert not (scratch_run(preset).cpu_autocast or finetune_run(preset).cpu_autocast)
    quick, bf16 = get_preset("quick"), get_run_preset("quick", cpu_precision="bf16")
    assert scratch_run(bf16).cpu_autocast and finetune_run(bf16).cpu_autocast
    assert scratch_run(bf16).key() != scratch_run(quick).key()
    assert source_run(bf16).key() == source_run(quick).key()  # the shipped source
    assert finetune_run(bf16).init.key() == finetune_run(quick).init.key()
    assert "bf16" in bf16.label and "bf16" not in quick.label
    with pytest.raises(ValueError, match=r"cpu_precision='fp16' \(CPU_PRECISION\).*'float32'.*'bf16'"):
        get_run_preset("quick", cpu_precision="fp16")


def test_the_cpu_bf16_opt_in_says_once_whether_it_is_native_and_how_fast(monkeypatch):
    """The notice names native or emulated bf16 with the rate recorded by
    benchmarks/train_throughput.py; float32 and CUDA runs get none."""
    import json
    from pathlib import Path

    from lib.training import precision

    recorded = json.loads((Path(__file__).resolve().parents[1] / "benchmarks" / "results"
                           / "train_throughput_cpu.json").read_text())
    assert precision.MEASURED_CPU_BF16_RATIO == {
        "native": round(recorded["bf16_over_float32"], 1),
        "emulated": round(recorded["avx2_only_bf16_over_float32"], 1)}
    cpu = torch.device("cpu")
    assert precision.cpu_bf16_notice(cpu, False) is None
    assert precision.cpu_bf16_notice(torch.device("cuda"), True) is None
    for native, kind in ((True, "native"), (False, "emulated")):
        monkeypatch.setattr(precision, "native_cpu_bf16", lambda native=native: native)
        notice = precision.cpu_bf16_notice(cpu, True)
        ratio = precision.MEASURED_CPU_BF16_RATIO[kind]
        assert f"{ratio:g}x the float32 rate" in notice
        assert ("emulated" in notice) == (kind == "emulated")


def test_trains_once_then_loads(tmp_path):
    first = train_or_load(tiny_config(), root=tmp_path, runs_dir=tmp_path / "runs", device="cpu",
                          verbose=False)
    assert not first.from_cache and len(first.history) == 3
    second = train_or_load(tiny_config(), root=tmp_path, runs_dir=tmp_path / "runs",
                           device="cpu", verbose=False)
    assert second.from_cache
    assert same_weights(weights(first), weights(second))
    assert second.history == first.history


def test_digest_identifies_the_checkpoint(tmp_path):
    """TrainedRun.digest, the evaluation memo's key for the weights, is the
    checkpoint's sha256 (from its manifest: no weight is re-hashed), the same
    whether the run was trained, loaded or seeded from a shipped copy."""
    import hashlib

    runs = tmp_path / "runs"
    trained = train_or_load(tiny_config(), root=tmp_path, runs_dir=runs, device="cpu",
                            verbose=False)
    assert trained.digest == hashlib.sha256(trained.path.read_bytes()).hexdigest()
    loaded = train_or_load(tiny_config(), root=tmp_path, runs_dir=runs, device="cpu",
                           verbose=False)
    assert loaded.from_cache and loaded.digest == trained.digest
    other = train_or_load(tiny_config(seed=7), root=tmp_path, runs_dir=runs, device="cpu",
                          verbose=False)
    assert other.digest and other.digest != trained.digest


def test_changed_config_trains_a_new_run(tmp_path):
    runs = tmp_path / "runs"
    train_or_load(tiny_config(), root=tmp_path, runs_dir=runs, device="cpu", verbose=False)
    other = train_or_load(tiny_config(seed=7), root=tmp_path, runs_dir=runs, device="cpu",
                          verbose=False)
    assert not other.from_cache
    assert len(list(runs.iterdir())) == 2


def test_interrupted_run_resumes_to_identical_weights(tmp_path, monkeypatch):
    reference = train_or_load(tiny_config(), root=tmp_path, runs_dir=tmp_path / "ref",
                              device="cpu", verbose=False)
    real_epoch = run_cache.train_one_epoch
    calls = {"n": 0}

    def dies_in_third_epoch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(run_cache, "train_one_epoch", dies_in_third_epoch)
    with pytest.raises(KeyboardInterrupt):
        train_or_load(tiny_config(), root=tmp_path, runs_dir=tmp_path / "runs", device="cpu",
                      verbose=False)
    run_dir = tmp_path / "runs" / tiny_config().key()
    assert (run_dir / "state.pt").exists() and not (run_dir / "model.pt").exists()
    assert not list(run_dir.glob("*.tmp"))  # nothing half-written

    monkeypatch.setattr(run_cache, "train_one_epoch", real_epoch)
    resumed = train_or_load(tiny_config(), root=tmp_path, runs_dir=tmp_path / "runs",
                            device="cpu", verbose=False)
    assert "resuming after epoch 2/3" in (run_dir / "train.log").read_text()
    assert same_weights(weights(resumed), weights(reference))
    assert not (run_dir / "state.pt").exists()


def test_truncated_checkpoint_is_detected_and_retrained(tmp_path):
    runs = tmp_path / "runs"
    first = train_or_load(tiny_config(), root=tmp_path, runs_dir=runs, device="cpu", verbose=False)
    data = first.path.read_bytes()
    first.path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptCheckpointError, match="sha256"):
        load_verified(first.path, first.key)
    with pytest.warns(RuntimeWarning, match="retrained"):
        again = train_or_load(tiny_config(), root=tmp_path, runs_dir=runs, device="cpu",
                              verbose=False)
    assert not again.from_cache
    assert same_weights(weights(first), weights(again))


def test_checkpoint_of_another_run_is_refused(tmp_path):
    path = tmp_path / "x.pt"
    save_verified(path, {"a": torch.ones(2)}, key="run-a")
    assert torch.equal(load_verified(path, "run-a")["a"], torch.ones(2))
    with pytest.raises(CorruptCheckpointError, match="belongs to run"):
        load_verified(path, "run-b")


def test_shipped_checkpoint_seeds_the_cache(tmp_path, monkeypatch):
    trained = train_or_load(tiny_config(), root=tmp_path, runs_dir=tmp_path / "a", device="cpu",
                            verbose=False)
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    shutil.copyfile(trained.path, shipped / f"{trained.key}.pt")
    shutil.copyfile(str(trained.path) + ".json", shipped / f"{trained.key}.pt.json")
    monkeypatch.setattr(run_cache, "SHIPPED_DIR", shipped)
    loaded = train_or_load(tiny_config(), root=tmp_path, runs_dir=tmp_path / "b", device="cpu",
                           verbose=False)
    assert loaded.from_cache and (tmp_path / "b" / trained.key / "model.pt").exists()
    assert same_weights(weights(trained), weights(loaded))
    assert loaded.digest == trained.digest
    assert loaded.path == tmp_path / "b" / trained.key / "model.pt"


def test_finetuning_replaces_the_classifier(tmp_path):
    source = tiny_config()
    tuned_config = tiny_config(init=source, recipe=Recipe(epochs=1, lr=0.01, batch_size=16),
                               data=TrainingDataSpec(DataSpec.of(
                                   "fractal", num_classes=3, per_class=8, size=16, channels=1,
                                   seed=9)))
    tuned = train_or_load(tuned_config, root=tmp_path, runs_dir=tmp_path / "runs", device="cpu",
                          verbose=False)
    assert tuned.model.num_classes == 3
    assert (tmp_path / "runs" / source.key() / "model.pt").exists()


def test_last_layer_tuning_leaves_the_backbone_unchanged(tmp_path):
    source = tiny_config()
    tuned_config = tiny_config(init=source, recipe=Recipe(epochs=1, lr=0.05, batch_size=16,
                                                          tune="last_layer"))
    runs = tmp_path / "runs"
    tuned = train_or_load(tuned_config, root=tmp_path, runs_dir=runs, device="cpu", verbose=False)
    parent = train_or_load(source, root=tmp_path, runs_dir=runs, device="cpu", verbose=False)
    tuned_w, parent_w = weights(tuned), weights(parent)
    backbone = [k for k in parent_w if not k.startswith("classifier")]
    assert all(torch.equal(tuned_w[k], parent_w[k]) for k in backbone)  # BN statistics too


# -- many workers on one cache (issue 16, item 3) -------------------------------------------

REPO = Path(__file__).resolve().parents[1]

# A worker in its own process: trains (or loads) tiny_config(epochs=E) into RUNS and
# prints whether it came from the cache.
WORKER = """
import sys
sys.path.insert(0, {tests!r})
from test_run_cache import tiny_config
from lib.presets import Recipe
from lib.training import train_or_load
run = train_or_load(tiny_config(recipe=Recipe(epochs={epochs}, lr=0.05, batch_size=16,
                                              dropout=0.3)),
                    root={root!r}, runs_dir={runs!r}, device="cpu", verbose=False)
print("cached" if run.from_cache else "trained", flush=True)
"""


def worker(tmp_path, epochs=3, runs=None):
    code = WORKER.format(tests=str(REPO / "tests"), epochs=epochs, root=str(tmp_path),
                         runs=str(runs or tmp_path / "runs"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env=env, cwd=REPO)


def test_two_workers_never_train_the_same_key(tmp_path):
    """Two concurrent workers on one cache: one trains, the other waits and
    loads it (before the lock, both trained it, with interleaved logs)."""
    procs = [worker(tmp_path) for _ in range(2)]
    outcomes = sorted(p.communicate(timeout=240)[0].strip() for p in procs)
    assert all(p.returncode == 0 for p in procs)
    assert outcomes == ["cached", "trained"]
    log = (tmp_path / "runs" / tiny_config().key() / "train.log").read_text()
    assert log.count("epoch 1/3") == 1 and "waiting: another worker" in log
    assert not (tmp_path / "runs" / tiny_config().key() / ".lock").exists()


def test_a_killed_worker_loses_no_epoch_and_its_lock_is_taken_over(tmp_path):
    """SIGKILL mid-run leaves the lock file (a dead pid on this host) and the
    last epoch's state: the next worker takes the lock over at once and resumes."""
    config = tiny_config(recipe=Recipe(epochs=6, lr=0.05, batch_size=16, dropout=0.3))
    run_dir = tmp_path / "runs" / config.key()
    proc = worker(tmp_path, epochs=6)
    deadline = time.monotonic() + 120
    while not (run_dir / "state.pt.json").exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (run_dir / ".lock").exists()  # left behind by the killed worker
    done = json.loads((run_dir / "state.pt.json").read_text())
    assert done["key"] == config.key()
    began = time.monotonic()
    resumed = train_or_load(config, root=tmp_path, runs_dir=tmp_path / "runs", device="cpu",
                            verbose=False)
    assert time.monotonic() - began < 100  # not the 120 s stale limit: the pid is dead
    assert "resuming after epoch" in (run_dir / "train.log").read_text()
    assert len(resumed.history) == 6 and not (run_dir / ".lock").exists()


def test_lock_of_another_host_is_taken_over_only_when_stale(tmp_path):
    path = tmp_path / "k" / ".lock"
    path.parent.mkdir()
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "t", "since": 0}))
    assert not RunLock(path, stale_after_s=60).acquire(blocking=False)  # fresh: held
    old = time.time() - 61
    os.utime(path, (old, old))
    lock = RunLock(path, stale_after_s=60)
    assert lock.acquire(blocking=False)  # stale: taken over
    assert json.loads(path.read_text())["token"] == lock.token
    assert not RunLock(path, stale_after_s=60).acquire(blocking=False)
    lock.release()
    assert not path.exists()


def test_heartbeat_keeps_a_long_held_lock_fresh(tmp_path):
    path = tmp_path / ".lock"
    with RunLock(path, stale_after_s=0.6, heartbeat_s=0.1) as held:
        time.sleep(1.0)  # longer than the stale limit
        assert not RunLock(path, stale_after_s=0.6).acquire(blocking=False)
        assert held.held and not held.lost


def test_takeover_never_steals_a_fresh_lock(tmp_path):
    """A worker that inspected a stale lock, then finds a fresh one in its
    place when it moves it aside, puts the fresh one back."""
    path = tmp_path / ".lock"
    stale = {"host": "elsewhere", "pid": 1, "token": "old", "since": 0}
    fresh = RunLock(path)
    assert fresh.acquire(blocking=False)
    late = RunLock(path)
    late._take_over(stale)  # it saw `stale`, but `fresh` is there now
    assert json.loads(path.read_text())["token"] == fresh.token
    fresh.release()


WRITER = """
import sys, torch
from lib.training.checkpoints import save_verified
for i in range({n}):
    save_verified({path!r}, {{"w": torch.full((20000,), float(i))}}, "k", extra={{"i": i}})
"""


def test_a_reader_never_sees_a_checkpoint_and_its_manifest_out_of_step(tmp_path):
    """A checkpoint rewritten in a loop by another process, loaded 400 times:
    every load succeeds (it failed 359 of 400 when the manifest could lag)."""
    path = tmp_path / "model.pt"
    save_verified(path, {"w": torch.zeros(20000)}, "k")
    writer = subprocess.Popen([sys.executable, "-c", WRITER.format(n=100000, path=str(path))],
                              cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while float(load_verified(path, "k")["w"][0]) == 0.0:  # the writer has started
            assert time.monotonic() < deadline and writer.poll() is None
            time.sleep(0.05)
        failures, values = 0, set()
        for _ in range(400):
            try:
                values.add(float(load_verified(path, "k")["w"][0]))
            except CorruptCheckpointError:
                failures += 1
        assert writer.poll() is None, "the writer ended before the reader: not a stress test"
    finally:
        writer.kill()
        writer.wait()
    assert failures == 0
    assert len(values) >= 3  # the file was rewritten while it was read


def test_files_follow_the_umask(tmp_path):
    """Group-shareable caches: checkpoints, manifests and configs get 0o666
    less the umask (they were 0o600 whatever the umask)."""
    old = os.umask(0o002)
    try:
        run = train_or_load(tiny_config(), root=tmp_path, runs_dir=tmp_path / "runs",
                            device="cpu", verbose=False)
    finally:
        os.umask(old)
    for path in (run.path, manifest_path(run.path), run.path.parent / "config.json"):
        assert path.stat().st_mode & 0o777 == 0o664, path


# -- a read-only cache serves a build --------------------------------------------------------

READER = """
import warnings, sys
sys.path.insert(0, {tests!r})
import lib.training.run_cache as run_cache
from pathlib import Path
from test_run_cache import tiny_config
from lib.evaluation.memo import memoized, MemoNotWrittenWarning
from lib.training import train_or_load
run_cache.SHIPPED_DIR = Path({shipped!r})
warnings.simplefilter("error")
run = train_or_load(tiny_config(), root={root!r}, runs_dir={runs!r}, device="cpu")
assert run.from_cache
fail = lambda: (_ for _ in ()).throw(AssertionError("evaluated again"))
assert memoized("clean", run, [], {{}}, fail, device="cpu", runs_dir={runs!r}) == 1.5
other = train_or_load(tiny_config(seed=9), root={root!r}, runs_dir={runs!r}, device="cpu")
assert other.from_cache  # from the shipped copy, not copied into the cache
warnings.simplefilter("default")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    assert memoized("clean", run, [], {{"new": 1}}, lambda: 2.5, device="cpu",
                    runs_dir={runs!r}) == 2.5
assert [w.category for w in caught] == [MemoNotWrittenWarning]
print("served")
"""


def test_a_read_only_cache_that_holds_every_run_serves(tmp_path):
    """The cache and the shipped folder read-only (for root too: the process
    runs without CAP_DAC_OVERRIDE): every run loads, a memoized evaluation is
    served, and a new one is computed with a warning, not a failure."""
    from lib.evaluation.memo import memoized

    runs, shipped = tmp_path / "runs", tmp_path / "shipped"
    run = train_or_load(tiny_config(), root=tmp_path, runs_dir=runs, device="cpu",
                        verbose=False)
    memoized("clean", run, [], {}, lambda: 1.5, device="cpu", runs_dir=runs)
    other = train_or_load(tiny_config(seed=9), root=tmp_path, runs_dir=tmp_path / "other",
                          device="cpu", verbose=False)
    shipped.mkdir()
    shutil.copyfile(other.path, shipped / f"{other.key}.pt")
    shutil.copyfile(manifest_path(other.path), shipped / f"{other.key}.pt.json")
    for path in [*runs.rglob("*"), runs, *shipped.rglob("*"), shipped]:
        path.chmod(path.stat().st_mode & ~0o222)
    command = [sys.executable, "-c", READER.format(
        tests=str(REPO / "tests"), shipped=str(shipped), root=str(tmp_path), runs=str(runs))]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root and setpriv (util-linux) is missing: cannot drop "
                        "CAP_DAC_OVERRIDE, so chmod cannot make the cache read-only")
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner",
                   "--", *command]
    try:
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    finally:
        for path in [runs, *runs.rglob("*"), shipped, *shipped.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "served"
    assert not (runs / other.key).exists()


# -- a damaged shipped checkpoint (issue 15, item 5) ------------------------------------------

def test_a_damaged_shipped_checkpoint_fails_naming_the_file_and_the_remedies(tmp_path,
                                                                              monkeypatch):
    """The quick source's real shipped file, truncated: no silent retraining
    (14 minutes, on every fresh cache); the error names the file, `git
    checkout`, re-import and the manifest's `make pretrain` command."""
    from lib.experiments import source_run
    from lib.presets import get_preset

    config = source_run(get_preset("quick"))
    real = run_cache.SHIPPED_DIR / f"{config.key()}.pt"
    shipped = tmp_path / "checkpoints"
    shipped.mkdir()
    data = real.read_bytes()
    (shipped / real.name).write_bytes(data[: len(data) // 2])
    shutil.copyfile(manifest_path(real), shipped / f"{real.name}.json")
    monkeypatch.setattr(run_cache, "SHIPPED_DIR", shipped)
    monkeypatch.setattr(run_cache, "_train", lambda *a, **k: pytest.fail("retrained"))
    with pytest.raises(DamagedShippedCheckpointError) as caught:
        train_or_load(config, root=tmp_path, runs_dir=tmp_path / "runs", device="cpu",
                      verbose=False)
    message = str(caught.value)
    for part in (str(shipped / real.name), "git checkout --", "re-import",
                 "make pretrain PRESET=quick", "force=True"):
        assert part in message
    assert not (tmp_path / "runs" / config.key() / "model.pt").exists()


def test_a_damaged_shipped_checkpoint_retrains_only_when_asked(tmp_path, monkeypatch):
    trained = train_or_load(tiny_config(), root=tmp_path, runs_dir=tmp_path / "a",
                            device="cpu", verbose=False)
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / f"{trained.key}.pt").write_bytes(b"not a checkpoint")
    shutil.copyfile(manifest_path(trained.path), shipped / f"{trained.key}.pt.json")
    monkeypatch.setattr(run_cache, "SHIPPED_DIR", shipped)
    with pytest.raises(DamagedShippedCheckpointError, match="shipped checkpoint"):
        train_or_load(tiny_config(), root=tmp_path, runs_dir=tmp_path / "b", device="cpu",
                      verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = train_or_load(tiny_config(), root=tmp_path, runs_dir=tmp_path / "b",
                              device="cpu", verbose=False, force=True)
    assert not again.from_cache and same_weights(weights(again), weights(trained))


def test_a_damaged_imported_checkpoint_fails_saying_how_to_reimport(tmp_path, monkeypatch):
    """A run imported from a released file (its manifest names the release,
    as lib.weights writes it) is never retrained in its place."""
    runs = tmp_path / "runs"
    trained = train_or_load(tiny_config(), root=tmp_path, runs_dir=runs, device="cpu",
                            verbose=False)
    save_verified(trained.path, load_verified(trained.path), trained.key,
                  extra={"released": "wrn40_2_imagenet32", "published_at": "github.com/x"})
    data = trained.path.read_bytes()
    trained.path.write_bytes(data[: len(data) // 2])
    monkeypatch.setattr(run_cache, "_train", lambda *a, **k: pytest.fail("retrained"))
    with pytest.raises(DamagedShippedCheckpointError,
                       match="import FILE --as wrn40_2_imagenet32"):
        train_or_load(tiny_config(), root=tmp_path, runs_dir=runs, device="cpu", verbose=False)
