"""The run cache: keys, atomic verified checkpoints, resume, corruption, shipped copies."""

import shutil

import pytest
import torch

import lib.training.run_cache as run_cache
from lib.presets import DataSpec, Recipe
from lib.training import RunConfig, TrainingDataSpec, train_or_load
from lib.training.checkpoints import CorruptCheckpointError, load_verified, save_verified

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
                    tiny_config(init=tiny_config(seed=5))):
        assert changed.key() != base.key()


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
