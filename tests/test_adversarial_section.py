"""Paper §3.3 (Table 3): the section's settings per preset, its run configs,
the robustness evaluation helpers, and one row end to end at smoke."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lib.data.base import ImageDataset
from lib.evaluation.robustness import (accuracy_vs_eps, accuracy_vs_steps, binomial_se,
                                       clean_accuracy, non_increasing, pgd_accuracy)
from lib.experiments import scratch_run
from lib.models import ARCHITECTURES
from lib.presets import get_preset, preset_names
from lib.sections.adversarial import (ARMS, PAPER_TABLE3, ROWS, AdversarialSettings,
                                      adversarial_settings, adversarial_source_run,
                                      attack_test_data, robustness_entries, row_run,
                                      sanity_curves, table3_runs)

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- settings and run configs -----------------------------------------------------------------

@pytest.mark.parametrize("name", preset_names())
def test_settings_exist_and_are_consistent(name):
    s = adversarial_settings(name)
    preset = get_preset(name)
    assert isinstance(s, AdversarialSettings) and s.preset == name
    assert s.architecture in ARCHITECTURES and s.targets
    assert s.last_layer.tune == "last_layer" and s.finetune.tune == "all"
    assert s.scratch.dropout == 0 and s.source_recipe.dropout == 0
    assert 0 < s.eps < 1 and s.test_step_size == pytest.approx(s.eps / 4)
    assert s.test_steps == 20
    assert set(s.autoattack_rows) <= set(ROWS)
    for size in (s.attack_size, s.autoattack_size, s.curve_size):
        assert size is None or preset.test_size is None or size <= preset.test_size
    text = s.describe()
    assert s.architecture in text and f"PGD-{s.test_steps}" in text
    assert adversarial_settings(preset) == s  # a Preset works as well as its name


def test_paper_settings_are_the_papers():
    s = adversarial_settings("paper")
    assert s.architecture == "wrn-28-10" and s.targets == ("cifar10", "cifar100")
    assert s.eps == pytest.approx(8 / 255)
    assert dict(s.train_params) == pytest.approx({"eps": 8 / 255, "step_size": 2 / 255,
                                                  "steps": 10})
    assert s.test_step_size == pytest.approx(2 / 255)
    assert (s.finetune.epochs, s.finetune.lr) == (5, 0.001)
    assert (s.last_layer.epochs, s.last_layer.lr) == (5, 0.001)
    assert (s.scratch.epochs, s.scratch.lr) == (100, 0.1)
    assert s.source_data.dataset.name == "imagenet32" and s.source_data.size is None
    assert (s.source_recipe.epochs, s.source_recipe.batch_size, s.source_steps) == (100, 256, 10)
    assert s.attack_size is None


def test_quick_settings_fit_a_cpu():
    s, preset = adversarial_settings("quick"), get_preset("quick")
    assert s.eps == pytest.approx(0.1) and s.architecture == preset.architecture
    assert s.source_data.dataset == preset.source and s.source_data.size == 25_000
    # adversarial pre-training ≤ 15 min at 1,000 clean images/s ÷ (k + 1)
    cost = s.source_data.size * s.source_recipe.epochs * (s.source_steps + 1) / 1000
    assert cost <= 15 * 60
    assert s.autoattack_size <= 100 and s.attack_size <= 1000


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match="smoke"):
        adversarial_settings("huge")


@pytest.mark.parametrize("name", preset_names())
def test_run_configs(name):
    s, preset = adversarial_settings(name), get_preset(name)
    source = adversarial_source_run(name)
    assert source.objective == "adversarial"
    # warm-started from the clean source only where the settings say so (quick)
    assert (source.init is not None) == s.source_warm_start
    assert dict(source.objective_params)["steps"] == s.source_steps
    assert source.architecture == s.architecture and source.track.split == "test"
    assert source.key() == adversarial_source_run(preset).key()  # pure and deterministic
    for target in s.targets:
        runs = table3_runs(name, target)
        assert list(runs) == list(ROWS) and set(ARMS) == set(ROWS)
        assert len({c.key() for c in runs.values()}) == 4
        assert all(c.architecture == s.architecture for c in runs.values())
        assert runs["normal"].objective == "cross_entropy" and runs["normal"].init is None
        assert runs["adversarial"].objective == "adversarial" and runs["adversarial"].init is None
        assert runs["adversarial"].recipe == s.scratch
        for row, recipe in (("adversarial_pretrained", s.finetune), ("last_layer", s.last_layer)):
            assert runs[row].objective == "adversarial" and runs[row].recipe == recipe
            assert runs[row].init.key() == source.key()
            assert dict(runs[row].objective_params) == pytest.approx(dict(s.train_params))


def test_quick_normal_row_is_the_shared_scratch_run():
    """At quick, Normal training is the pre-training page's from-scratch model (a cache hit)."""
    preset = get_preset("quick")
    assert row_run("quick", "normal").key() == scratch_run(preset, track=True).key()


def test_row_and_target_are_validated():
    with pytest.raises(ValueError, match="adversarial_pretrained"):
        row_run("smoke", "madry")
    with pytest.raises(ValueError, match="fashion_mnist"):
        row_run("smoke", "normal", target="cifar10")


def test_attack_test_data_sizes():
    assert attack_test_data("quick", "fashion_mnist").size == 1000
    assert attack_test_data("quick", "fashion_mnist", 50).size == 50
    assert attack_test_data("smoke", "fashion_mnist", 10_000).size == 500  # capped by the preset
    assert attack_test_data("paper", "cifar10").size is None


def test_paper_numbers():
    assert PAPER_TABLE3["cifar10"]["adversarial_pretrained"] == (87.1, 57.4)
    assert PAPER_TABLE3["cifar100"]["last_layer"] == (None, 26.1)
    assert set(PAPER_TABLE3["cifar10"]) == set(ROWS)


# -- evaluation helpers on a tiny model -------------------------------------------------------

@pytest.fixture(scope="module")
def tiny():
    """A linear classifier of dim (class 0) vs bright (class 1) 1×6×6 images."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 2
    x = (0.35 + 0.3 * y.float()[:, None, None, None] + 0.08 * torch.randn(200, 1, 6, 6, generator=g))
    images = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    data = ImageDataset(images, y, 2)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    xf = images.float() / 255
    for _ in range(300):
        opt.zero_grad()
        F.cross_entropy(model(xf), y).backward()
        opt.step()
    model.zero_grad(set_to_none=True)
    return model.eval(), data


def test_pgd_accuracy_is_at_most_clean(tiny):
    model, data = tiny
    clean = clean_accuracy(model, data, CPU)
    robust = pgd_accuracy(model, data, CPU, eps=0.2, step_size=0.05, steps=10)
    assert clean > 0.9 and 0 <= robust <= clean and robust < clean


def test_eps_zero_is_clean_accuracy(tiny):
    model, data = tiny
    clean = clean_accuracy(model, data, CPU)
    assert pgd_accuracy(model, data, CPU, eps=0.0, step_size=0.01, steps=5) == clean
    assert accuracy_vs_eps(model, data, CPU, [0.0], steps=3)[0]["accuracy"] == clean


def test_sweeps_fall_and_reach_zero(tiny):
    model, data = tiny
    by_eps = [r["accuracy"] for r in accuracy_vs_eps(model, data, CPU, [0, 0.05, 0.1, 0.3, 0.6],
                                                    steps=10)]
    se = binomial_se(max(by_eps), len(data))
    assert non_increasing(by_eps, 2 * se) and by_eps[-1] <= 0.05
    by_steps = [r["accuracy"] for r in accuracy_vs_steps(model, data, CPU, 0.1, 0.025, [0, 1, 5, 20])]
    assert non_increasing(by_steps, 2 * se)


def test_pgd_accuracy_is_reproducible_and_restores_the_mode(tiny):
    model, data = tiny
    model.train()
    a = pgd_accuracy(model, data, CPU, eps=0.1, step_size=0.05, steps=1, seed=3, batch_size=64)
    b = pgd_accuracy(model, data, CPU, eps=0.1, step_size=0.05, steps=1, seed=3, batch_size=64)
    assert a == b and model.training
    model.eval()
    assert all(p.grad is None for p in model.parameters())


def test_helper_validation(tiny):
    model, data = tiny
    with pytest.raises(ValueError):
        pgd_accuracy(model, data, CPU, eps=-0.1, step_size=0.01, steps=1)
    with pytest.raises(ValueError, match="at least one"):
        pgd_accuracy(model, data.subset([]), CPU, eps=0.1, step_size=0.01, steps=1)
    assert non_increasing([0.5, 0.4, 0.41, 0.1], 0.02) and not non_increasing([0.3, 0.5], 0.1)
    assert binomial_se(0.0, 100) > 0 and math.isclose(binomial_se(0.5, 100), 0.05)


# -- one row end to end at smoke --------------------------------------------------------------

def test_smoke_row_end_to_end(tmp_path, monkeypatch):
    """Adversarial pre-training and tuning at smoke: the source and the tuned
    model train through the run cache, then clean / PGD-20 / AutoAttack and the
    sanity curves are scored (a few seconds on one thread)."""
    from lib.training import train_or_load

    monkeypatch.setenv("RUNS_DIR", str(tmp_path / "runs"))
    s = adversarial_settings("smoke")
    run = train_or_load(row_run("smoke", "adversarial_pretrained"), device=CPU, verbose=False)
    assert not run.from_cache and len(run.history) == s.finetune.epochs
    assert (tmp_path / "runs" / adversarial_source_run("smoke").key() / "model.pt").exists()
    test = attack_test_data("smoke", "fashion_mnist", 40).build()
    aa = attack_test_data("smoke", "fashion_mnist", 4).build()
    entries = robustness_entries(run.model, test, s, CPU, autoattack=aa)
    values = {(e["metric"], e["detail"]): e["value"] for e in entries}
    assert set(values) == {("clean_accuracy", "pgd set"), ("pgd_accuracy", "pgd set"),
                           ("clean_accuracy", "autoattack set"), ("pgd_accuracy", "autoattack set"),
                           ("autoattack_accuracy", "autoattack set")}
    assert all(0 <= v <= 100 for v in values.values())
    assert values["pgd_accuracy", "pgd set"] <= values["clean_accuracy", "pgd set"]
    assert values["autoattack_accuracy", "autoattack set"] <= values["clean_accuracy", "autoattack set"]
    curves = sanity_curves(run.model, test, s, CPU)
    assert [c["eps"] for c in curves if c["check"] == "eps"] == pytest.approx(
        [m * s.eps for m in s.eps_multiples])
    assert [c["steps"] for c in curves if c["check"] == "steps"] == list(s.steps_grid)
    assert curves[0]["accuracy"] == pytest.approx(values["clean_accuracy", "pgd set"])
    again = train_or_load(row_run("smoke", "adversarial_pretrained"), device=CPU, verbose=False)
    assert again.from_cache
