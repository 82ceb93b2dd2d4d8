"""The authors' released networks (issue 15): the loader against an
independent reference of the official forward, its errors, normalization as
part of a model's identity (run key, checkpoint payload, memo key), and the
import into the run cache with hash verification.

The fixtures are state_dicts in the official key layout, written here from
the structure of the official ``WideResNet`` (``downsampled_train/models/wrn.py``
of hendrycks/pre-training: ``conv1``; ``block{1,2,3}.layer.{i}`` with ``bn1``,
``conv1``, ``bn2``, ``conv2`` and, where the width changes, ``convShortcut``;
then ``bn1`` and ``fc``), and the reference forward follows that network's
``forward`` step by step; neither uses this library's model.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

import lib.weights as weights
from lib.evaluation.memo import evaluation_key
from lib.experiments import finetune_run, source_run
from lib.models import (
    OFFICIAL_NORMALIZATION,
    OfficialCheckpointError,
    build_model,
    default_normalization,
    load_official_wrn,
)
from lib.presets import DataSpec, get_preset
from lib.training.checkpoints import read_manifest
from lib.training.run_config import EvalDataSpec
from lib.training.run_cache import train_or_load

# -- fixtures in the official layout, and the official forward ------------------------------


def _bn(state, prefix, channels, gen):
    state[prefix + "weight"] = 1 + 0.1 * torch.randn(channels, generator=gen)
    state[prefix + "bias"] = 0.1 * torch.randn(channels, generator=gen)
    state[prefix + "running_mean"] = 0.1 * torch.randn(channels, generator=gen)
    state[prefix + "running_var"] = 0.5 + torch.rand(channels, generator=gen)
    state[prefix + "num_batches_tracked"] = torch.tensor(1234)


def _conv(out_c, in_c, k, gen):
    return torch.randn(out_c, in_c, k, k, generator=gen) * (2.0 / (k * k * out_c)) ** 0.5


def official_layout(depth, widen_factor, num_classes, seed=0) -> dict:
    """A random state_dict with the keys and shapes of the official WideResNet."""
    gen = torch.Generator().manual_seed(seed)
    widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
    n = (depth - 4) // 6
    state = {"conv1.weight": _conv(16, 3, 3, gen)}
    for g in range(3):
        for i in range(n):
            c_in, c_out = (widths[g] if i == 0 else widths[g + 1]), widths[g + 1]
            p = f"block{g + 1}.layer.{i}."
            _bn(state, p + "bn1.", c_in, gen)
            state[p + "conv1.weight"] = _conv(c_out, c_in, 3, gen)
            _bn(state, p + "bn2.", c_out, gen)
            state[p + "conv2.weight"] = _conv(c_out, c_out, 3, gen)
            if c_in != c_out:
                state[p + "convShortcut.weight"] = _conv(c_out, c_in, 1, gen)
    _bn(state, "bn1.", widths[3], gen)
    state["fc.weight"] = 0.1 * torch.randn(num_classes, widths[3], generator=gen)
    state["fc.bias"] = 0.1 * torch.randn(num_classes, generator=gen)
    return state


def official_forward(state, x, depth, pool):
    """The official ``WideResNet.forward`` in eval mode, on normalized input ``x``."""
    def bn(t, p):
        return F.batch_norm(t, state[p + "running_mean"], state[p + "running_var"],
                            state[p + "weight"], state[p + "bias"], False, 0.0, 1e-5)

    out = F.conv2d(x, state["conv1.weight"], padding=1)
    for g in range(3):
        for i in range((depth - 4) // 6):
            p = f"block{g + 1}.layer.{i}."
            stride = 2 if (g > 0 and i == 0) else 1
            equal = p + "convShortcut.weight" not in state
            if not equal:
                out = F.relu(bn(out, p + "bn1."))
                h = out
            else:
                h = F.relu(bn(out, p + "bn1."))
            h = F.relu(bn(F.conv2d(h, state[p + "conv1.weight"], stride=stride, padding=1),
                          p + "bn2."))
            h = F.conv2d(h, state[p + "conv2.weight"], padding=1)
            shortcut = out if equal else F.conv2d(out, state[p + "convShortcut.weight"],
                                                  stride=stride)
            out = shortcut + h
    out = F.relu(bn(out, "bn1."))
    out = F.avg_pool2d(out, pool).flatten(1)
    return F.linear(out, state["fc.weight"], state["fc.bias"])


def save(obj, path):
    torch.save(obj, path)
    return path


# -- item 1: the loader -----------------------------------------------------------------------

@pytest.mark.parametrize("depth,width,classes,size,pool", [
    (10, 1, 10, 32, 8),      # CIFAR-sized input: the official avg_pool2d(out, 8)
    (16, 2, 100, 32, 8),
    (10, 2, 200, 64, 16),    # Tiny ImageNet's copy of wrn.py pools 16×16
])
@pytest.mark.parametrize("wrap", ["plain", "data_parallel", "robustbench_dict"])
def test_official_layout_loads_with_the_official_logits(tmp_path, depth, width, classes, size,
                                                        pool, wrap):
    state = official_layout(depth, width, classes)
    stored = {"plain": state, "data_parallel": {f"module.{k}": v for k, v in state.items()},
              "robustbench_dict": {"state_dict": state}}[wrap]
    model = load_official_wrn(save(stored, tmp_path / "net.pt"), depth, width, classes)
    x = torch.rand(4, 3, size, size, generator=torch.Generator().manual_seed(1))
    expected = official_forward(state, (x - 0.5) / 0.5, depth, pool)
    with torch.no_grad():
        got = model(x)
    assert not model.training
    assert model.normalization == OFFICIAL_NORMALIZATION
    assert (got - expected).abs().max().item() < 1e-4
    assert expected.abs().max().item() > 0.1  # the comparison is not between zeros


def test_class_count_is_read_from_the_file_when_not_given(tmp_path):
    path = save(official_layout(10, 1, 847), tmp_path / "net.pt")
    assert load_official_wrn(path, 10, 1).num_classes == 847


def test_files_without_batch_counters_load(tmp_path):
    """PyTorch < 0.4.1 wrote no ``num_batches_tracked``; it never changes the output."""
    state = {k: v for k, v in official_layout(10, 1, 10).items()
             if not k.endswith("num_batches_tracked")}
    model = load_official_wrn(save(state, tmp_path / "net.pt"), 10, 1, 10)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), official_forward(state, 2 * x - 1, 10, 8), atol=1e-4)


@pytest.mark.parametrize("file_arch,asked,needles", [
    # wider: the first block's first 3×3 convolution is the first key of another shape
    ((16, 2, 10), (16, 1, 10), ["block1.layer.0.conv1.weight", "(32, 16, 3, 3)",
                                "(16, 16, 3, 3)", "WRN-16-1 with 10 classes"]),
    # another class count: the classifier
    ((10, 1, 100), (10, 1, 10), ["fc.weight", "(100, 64)", "(10, 64)"]),
    # shallower file: a block the file lacks
    ((10, 1, 10), (16, 1, 10), ["block1.layer.1.bn1.weight", "missing"]),
    # deeper file: a block the network lacks
    ((16, 1, 10), (10, 1, 10), ["block1.layer.1.bn1.weight", "(16,)", "does not"]),
])
def test_wrong_architecture_names_the_first_mismatched_key(tmp_path, file_arch, asked, needles):
    path = save(official_layout(*file_arch), tmp_path / "other.pt")
    with pytest.raises(OfficialCheckpointError) as error:
        load_official_wrn(path, *asked)
    for needle in needles + [str(path)]:
        assert needle in str(error.value)


class NotATensor:
    """A pickled object that only a full (unsafe) unpickler would build."""


@pytest.mark.parametrize("damage", ["truncated", "text", "unsafe_object", "list", "empty"])
def test_unreadable_or_non_checkpoint_file_fails_naming_it(tmp_path, damage):
    path = tmp_path / f"{damage}.pt"
    if damage == "truncated":
        save(official_layout(10, 1, 10), path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "text":
        path.write_text("<html>Google Drive: virus scan warning</html>")
    elif damage == "unsafe_object":
        save({"fc.weight": NotATensor()}, path)
        torch.load(path, weights_only=False)  # loadable, but not with weights_only=True
    elif damage == "list":
        save([torch.zeros(3)], path)
    else:
        path.write_bytes(b"")
    with pytest.raises(OfficialCheckpointError, match=str(path)):
        load_official_wrn(path, 10, 1, 10)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        load_official_wrn(tmp_path / "nowhere.pt", 40, 2, 10)


# -- item 2: normalization is part of a model's identity ------------------------------------

def test_normalization_travels_in_the_state_dict_only_when_not_default():
    official = build_model("wrn-10-1", 10, 3, normalization=OFFICIAL_NORMALIZATION)
    state = official.state_dict()
    assert {"pixel_mean", "pixel_std"} <= set(state)
    fresh = build_model("wrn-10-1", 10, 3)          # as run_cache builds before loading
    fresh.load_state_dict(state)
    assert fresh.normalization == OFFICIAL_NORMALIZATION
    x = torch.rand(2, 3, 32, 32)
    official.eval(), fresh.eval()
    assert torch.equal(official(x), fresh(x))
    fresh.load_state_dict(build_model("wrn-10-1", 10, 3).state_dict())  # a default checkpoint
    assert fresh.default_normalization
    with torch.no_grad():
        assert not torch.allclose(fresh(x), official(x))


def test_fine_tuning_keeps_the_parents_normalization():
    """What run_cache does for a child: build, load the parent's weights, new classifier."""
    parent = build_model("wrn-10-1", 1000, 3, normalization=OFFICIAL_NORMALIZATION)
    child = build_model("wrn-10-1", 1000, 3)
    child.load_state_dict(parent.state_dict())
    child.replace_classifier(10)
    assert child.normalization == OFFICIAL_NORMALIZATION
    assert "pixel_mean" in child.state_dict()


def test_normalization_enters_the_run_key_only_when_not_default():
    preset = get_preset("paper")
    trained = source_run(preset)
    same = dataclasses.replace(trained, normalization=default_normalization(3))
    assert same.normalization is None and same.key() == trained.key()
    assert "normalization" not in trained.to_dict() and "released" not in trained.to_dict()
    official = dataclasses.replace(trained, normalization=OFFICIAL_NORMALIZATION)
    assert official.key() != trained.key()
    assert official.to_dict()["normalization"] == {"mean": [0.5] * 3, "std": [0.5] * 3}
    child = finetune_run(preset, source=official)
    assert child.model_normalization == OFFICIAL_NORMALIZATION
    assert child.key() != finetune_run(preset).key()
    with pytest.raises(ValueError, match="inherits its parent's normalization"):
        dataclasses.replace(finetune_run(preset), normalization=OFFICIAL_NORMALIZATION)
    with pytest.raises(ValueError, match="in_channels=3"):
        dataclasses.replace(trained, normalization=((0.5,), (0.5,)))


def test_normalization_enters_the_memo_key_only_when_not_default():
    data = [EvalDataSpec(DataSpec.of("cifar10"))]

    def run(normalization=None):
        model = build_model("wrn-10-1", 10, 3, normalization=normalization)
        return SimpleNamespace(key="k" * 16, digest="d" * 64, model=model)

    plain = evaluation_key("clean", SimpleNamespace(key="k" * 16, digest="d" * 64), data, {})
    assert evaluation_key("clean", run(), data, {}) == plain
    assert evaluation_key("clean", run(OFFICIAL_NORMALIZATION), data, {}) != plain


# -- item 3: import into the run cache ------------------------------------------------------

@pytest.fixture
def small_release(monkeypatch):
    """The released ImageNet source, made WRN-10-1 with 10 classes so that a
    fixture file is small; ``pin(sha1)`` gives it a published hash."""
    name = "imagenet32-wrn-40-2"
    original = weights.RELEASES[name]

    def pin(sha1=""):
        monkeypatch.setitem(weights.RELEASES, name, dataclasses.replace(
            original, architecture="wrn-10-1", num_classes=10, git_blob_sha1=sha1))
        return name

    pin(original.git_blob_sha1)
    return SimpleNamespace(name=name, pin=pin)


def test_git_blob_sha1_is_what_git_prints(tmp_path):
    path = save(official_layout(10, 1, 10), tmp_path / "net.pt")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    printed = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True,
                             check=True).stdout.strip()
    assert weights.file_hashes(path)["git_blob_sha1"] == printed


def test_issue_hashes_are_the_registered_ones():
    pinned = {r.git_blob_sha1 for r in weights.RELEASES.values() if r.git_blob_sha1}
    assert pinned == {
        "a78cb7db41227a929e557ab81e12ff02d518949c", "d947554cf5c08bee41fa1468bf57090a9480d876",
        "eadf22652f03216e89ced89e6a695b37c312d7b6", "54a5960aec8d2338dea2e929a53b8070135b3d73",
        "79776563d2e812a1308b3f51ceefdced372104f5", "6b7303d41a1af6f2bac72b30a891cbfad931fee0",
        "efe7407e8bde9024b3181d8a7a81b9c850879380", "732cf7b4aee36ee9bf0a29d62f625fe7ae13428c"}


def test_verified_import_is_the_source_run_every_section_loads(tmp_path, small_release):
    state = official_layout(10, 1, 10)
    path = save(state, tmp_path / "imagenet_wrn_baseline_epoch_99.pt")
    name = small_release.pin(weights.file_hashes(path)["git_blob_sha1"])
    runs = tmp_path / "runs"
    imported = weights.import_release(path, name, runs_dir=runs)
    config = weights.released_run(name)
    assert imported.key == config.key() and imported.from_cache
    manifest = read_manifest(imported.path)
    assert manifest["verified_by"] == "git_blob_sha1" and manifest["trusted"] is False
    assert manifest["key"] == config.key()
    # The stored payload carries the normalization; train_or_load finds the run, trains nothing.
    payload = torch.load(imported.path, weights_only=True)
    assert torch.equal(payload["model"]["pixel_mean"].flatten(), torch.full((3,), 0.5))
    again = train_or_load(config, runs_dir=runs, device="cpu", verbose=False)
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        assert (again.model(x) - official_forward(state, 2 * x - 1, 10, 8)).abs().max() < 1e-4
    assert weights.missing_imports([config], runs) == []


def test_paper_source_resolves_to_the_released_one_with_source_official():
    paper = get_preset("paper")
    official = weights.source_for(source_run(paper), "official")
    assert official == weights.released_run("imagenet32-wrn-40-2")
    assert official.model_normalization == OFFICIAL_NORMALIZATION
    assert weights.source_for(source_run(paper), "trained") == source_run(paper)
    tiny = dict(paper.source_variants)["64×64 without Tiny ImageNet classes"]
    assert weights.source_for(source_run(paper, source=tiny), "official").released == ""
    assert weights.source_for(source_run(get_preset("quick")), "official").released == ""
    with pytest.raises(ValueError, match="'trained', 'official'"):
        weights.source_for(source_run(paper), "imagenet")


def test_unknown_hash_is_refused_unless_trusted(tmp_path, small_release, capsys):
    path = save(official_layout(10, 1, 10), tmp_path / "net.pt")
    runs = tmp_path / "runs"
    name = small_release.name  # pinned to the official hash, which the fixture does not have
    code = weights.main(["import", str(path), "--as", name, "--runs-dir", str(runs)])
    err = capsys.readouterr().err
    assert code == 2 and "a78cb7db41227a929e557ab81e12ff02d518949c" in err and "--trust" in err
    assert weights.file_hashes(path)["git_blob_sha1"] in err
    assert weights.missing_imports([weights.released_run(name)], runs)  # nothing stored
    assert weights.main(["import", str(path), "--as", name, "--runs-dir", str(runs),
                         "--trust"]) == 0
    manifest = read_manifest(weights.run_dir(name, runs) / "model.pt")
    assert manifest["trusted"] is True and manifest["verified_by"] == "trust"


def test_unpublished_hash_is_recorded_at_first_import_then_checked(tmp_path, small_release):
    name = small_release.pin("")  # like the adversarial WRN-28-10 and RobustBench's files
    runs = tmp_path / "runs"
    first = save(official_layout(10, 1, 10, seed=0), tmp_path / "first.pt")
    with pytest.raises(weights.UnverifiedFileError, match="without a hash"):
        weights.import_release(first, name, runs_dir=runs)
    weights.import_release(first, name, trust=True, runs_dir=runs)
    recorded = read_manifest(weights.run_dir(name, runs) / "model.pt")["file_sha256"]
    assert recorded == weights.file_hashes(first)["sha256"]
    again = weights.import_release(first, name, runs_dir=runs)  # same file: verified now
    assert again.info["verified_by"] == "recorded_sha256" and not again.info["trusted"]
    other = save(official_layout(10, 1, 10, seed=1), tmp_path / "other.pt")
    with pytest.raises(weights.UnverifiedFileError, match=recorded):
        weights.import_release(other, name, runs_dir=runs)


def test_import_errors_name_the_file_and_the_choices(tmp_path, small_release, capsys):
    runs = str(tmp_path / "runs")
    bad = tmp_path / "truncated.pt"
    save(official_layout(10, 1, 10), bad)
    bad.write_bytes(bad.read_bytes()[:1000])
    assert weights.main(["import", str(bad), "--as", small_release.name, "--runs-dir", runs,
                         "--trust"]) == 2
    assert str(bad) in capsys.readouterr().err
    wrong = save(official_layout(16, 1, 10), tmp_path / "wrong.pt")
    assert weights.main(["import", str(wrong), "--as", small_release.name, "--runs-dir", runs,
                         "--trust"]) == 2
    assert "block1.layer.1.bn1.weight" in capsys.readouterr().err
    assert weights.main(["import", str(wrong), "--as", "resnet", "--runs-dir", runs]) == 2
    assert "imagenet32-wrn-40-2" in capsys.readouterr().err
    assert weights.main(["import", str(tmp_path / "absent.pt"), "--as", small_release.name,
                         "--runs-dir", runs]) == 2
    assert "absent.pt" in capsys.readouterr().err


def test_missing_import_says_where_to_get_the_file(tmp_path):
    config = weights.source_for(source_run(get_preset("paper")), "official")
    (message,) = weights.missing_imports([finetune_run(get_preset("paper"), source=config)],
                                         tmp_path)
    assert "imagenet_wrn_baseline_epoch_99.pt" in message
    assert "python -m lib.weights import FILE --as imagenet32-wrn-40-2" in message
    with pytest.raises(FileNotFoundError, match="is not imported"):
        weights.imported_run("imagenet32-wrn-40-2", tmp_path)


def test_list_shows_every_release(tmp_path, capsys):
    assert weights.main(["list", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in weights.release_names())
    json.dumps([weights.released_run(n).to_dict() for n in weights.release_names()])


# -- item 6: the reproducing page lists every released file --------------------------------

def test_reproducing_page_lists_every_release_and_hash():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "book" / "reproducing.md").read_text()
    for r in weights.RELEASES.values():
        assert f"`{r.name}`" in page
        if r.git_blob_sha1:
            assert r.git_blob_sha1 in page


# -- item 4: the released models measured with this library's metrics ----------------------

def test_released_models_are_measured_beside_the_published_numbers(tmp_path, monkeypatch):
    from lib.data.miniature import write_miniature
    from lib.released import ReleasedSettings, comparison_table, evaluate_released

    tuned, robust = "cifar10-tuned-wrn-40-2", "robustbench-hendrycks2019using-cifar10"
    for name in (tuned, robust):  # fixture weights: WRN-10-1 files with no published hash
        monkeypatch.setitem(weights.RELEASES, name, dataclasses.replace(
            weights.RELEASES[name], architecture="wrn-10-1", git_blob_sha1=""))
    root, runs = tmp_path / "data", tmp_path / "runs"
    write_miniature(root, datasets=["cifar10", "cifar100", "svhn"])
    for seed, name in enumerate((tuned, robust)):
        weights.import_release(save(official_layout(10, 1, 10, seed), tmp_path / f"{seed}.pt"),
                               name, trust=True, runs_dir=runs)
    settings = ReleasedSettings(ood_samples=20, attack_size=6, autoattack_size=4,
                                autoattack_iterations=2)
    names = [tuned, robust, "cifar100-tuned-wrn-40-2"]
    result = evaluate_released(names, runs_dir=runs, data_root=root, settings=settings)
    rows = result.frame()
    ours = rows[rows.source == "this library"]
    assert set(ours[ours.release == tuned].metric) >= {
        "test_error", "test_nll", "auroc", "aupr", "fpr", "rms_calibration_error",
        "mad_calibration_error"}
    assert set(ours[ours.release == tuned].ood_set.dropna()) >= {"gaussian", "svhn", "cifar100"}
    assert "mean" not in set(ours.ood_set.dropna())  # Textures, Places365, LSUN are missing
    assert set(ours[ours.release == robust].metric) == {
        "test_error", "test_nll", "clean_accuracy", "pgd20_accuracy", "autoattack_accuracy"}
    percent = ours[ours.unit == "%"]
    assert percent.value.between(0, 100).all()
    published = rows[rows.source != "this library"]
    assert {(r.release, r.metric, r.value) for r in published.itertuples()} >= {
        (tuned, "test_error", 3.64), (robust, "autoattack_accuracy", 54.92),
        (robust, "clean_accuracy", 87.11), ("cifar100-tuned-wrn-40-2", "test_error", 20.82)}
    text = "\n".join(result.missing)
    assert "cifar100-tuned-wrn-40-2" in text and "python -m lib.weights import" in text
    assert "textures" in text and "places365" in text
    table = comparison_table(result.rows)
    assert list(table.columns[:2]) == ["this library", "paper"]
    assert table.loc[(robust, "autoattack_accuracy", ""), "RobustBench"] == 54.92
    again = evaluate_released([robust], runs_dir=runs, data_root=root, settings=settings)
    assert [r for r in again.rows if r["source"] == "this library"] == \
        [r for r in result.rows if r["release"] == robust and r["source"] == "this library"]


def test_fixture_weights_round_trip_through_the_official_layout(tmp_path, small_release):
    """``python -m lib.weights fixture``: official-layout random weights (the dry run's)."""
    path = tmp_path / "fixture.pt"
    assert weights.main(["fixture", small_release.name, str(path), "--seed", "3"]) == 0
    state = torch.load(path, weights_only=True)
    assert "block1.layer.0.conv1.weight" in state and "fc.weight" in state
    assert not any(k.startswith("pixel_") for k in state)
    model = load_official_wrn(path, 10, 1, 10)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), official_forward(state, 2 * x - 1, 10, 8), atol=1e-4)
    run = weights.import_release(path, small_release.name, trust=True, runs_dir=tmp_path / "r")
    assert run.info["trusted"] is True


def test_a_release_that_is_not_imported_is_never_trained(tmp_path):
    """``train_or_load`` of a released run that the cache lacks fails, saying
    where the file is published and how to import it (issue 15)."""
    with pytest.raises(FileNotFoundError, match="python -m lib.weights import FILE --as "
                                                "cifar10-tuned-wrn-40-2"):
        train_or_load(weights.released_run("cifar10-tuned-wrn-40-2"), runs_dir=tmp_path,
                      device="cpu")
    assert not any(tmp_path.rglob("model.pt"))
