"""The class-imbalance section (paper §3.2): settings, method registry, rows."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from lib.imbalance import minority_classes, power_law_class_sizes
from lib.presets import get_preset, preset_names
from lib.sections import imbalance as section

EXPECTED_METHODS = ["normal", "cost_sensitive", "oversampling", "smote", "pretraining",
                    "logit_adjustment"]


@pytest.mark.parametrize("name", preset_names())
def test_settings_exist_for_every_preset(name):
    settings = section.settings_for(name)
    assert settings is section.settings_for(get_preset(name))
    assert settings.targets and settings.gammas and settings.seeds
    assert settings.figure_gamma in settings.gammas  # Figure 3 is drawn at one of them
    assert settings.method_names() == EXPECTED_METHODS
    for target in settings.targets:
        a, b = settings.largest_smallest(target)
        assert a > b > 0
        for gamma in settings.gammas:
            sizes = settings.class_sizes(target, gamma)
            assert sizes[0] == a and sizes[-1] == b
    assert "gammas" in settings.describe()


def test_paper_settings_follow_the_paper():
    s = section.settings_for("paper")
    assert s.targets == ("cifar10", "cifar100")
    assert s.gammas == (0.2, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0)
    assert s.largest_smallest("cifar10") == (5000, 250)
    assert s.largest_smallest("cifar100") == (500, 25)
    assert (s.scratch.epochs, s.scratch.lr, s.scratch.dropout) == (100, 0.1, 0.3)
    assert (s.pretraining.epochs, s.pretraining.lr, s.pretraining.dropout) == (50, 0.001, 0.0)


def test_unknown_preset_and_method_name_the_choices():
    with pytest.raises(ValueError, match="quick"):
        section.settings_for("huge")
    with pytest.raises(ValueError, match="smote"):
        section.build_run("undersampling", get_preset("smoke"), section.settings_for("smoke"),
                          "fashion_mnist", 0.2, 0)


@pytest.mark.parametrize("method", EXPECTED_METHODS)
@pytest.mark.parametrize("name", preset_names())
def test_registry_builds_a_run_for_every_method(name, method):
    preset, settings = get_preset(name), section.settings_for(name)
    target, gamma = settings.targets[0], settings.gammas[0]
    config = section.build_run(method, preset, settings, target, gamma, seed=3)
    m = section.METHODS[method]
    transforms = [t for t, _ in config.data.transforms]
    assert transforms[0] == "power_law_imbalance"
    assert config.data.size is None and config.data.split_seed == 3 and config.seed == 3
    assert config.data.dataset.name == target
    if m.arm == "pretrained":
        assert config.init is not None and config.recipe == settings.pretraining
        assert config.recipe.dropout == 0.0
    else:
        assert config.init is None and config.recipe == settings.scratch
    expected_extra = {"cost_sensitive": ["class_weights"], "oversampling": ["oversample"],
                      "smote": ["smote"]}.get(method, [])
    assert transforms[1:] == expected_extra
    assert config.objective == ("logit_adjusted" if method == "logit_adjustment"
                                else "cross_entropy")
    assert m.in_paper == (method != "logit_adjustment")
    config.key()  # hashable and serialisable


def test_runs_differ_across_methods_and_gammas():
    preset, settings = get_preset("paper"), section.settings_for("paper")
    keys = {section.build_run(m, preset, settings, "cifar10", g, 0).key()
            for m in EXPECTED_METHODS for g in settings.gammas}
    assert len(keys) == len(EXPECTED_METHODS) * len(settings.gammas)


@pytest.mark.parametrize("method", ["normal", "oversampling", "smote", "cost_sensitive"])
def test_built_training_set_follows_the_power_law(method):
    preset, settings = get_preset("smoke"), section.settings_for("smoke")
    gamma = settings.gammas[0]
    expected = power_law_class_sizes(10, gamma, *settings.largest_smallest("fashion_mnist"))
    config = section.build_run(method, preset, settings, "fashion_mnist", gamma, seed=0)
    train, _ = config.data.build()
    counts = np.bincount(train.labels.numpy(), minlength=10).tolist()
    if method in ("oversampling", "smote"):
        assert counts == [expected[0]] * 10
    else:
        assert counts == expected
    if method == "cost_sensitive":
        w = train.weights.numpy()
        assert w.mean() == pytest.approx(1.0, rel=1e-5)
        assert w[train.labels.numpy() == 9][0] > w[train.labels.numpy() == 0][0]
    # reproducible by seed, different with another seed
    again, _ = config.data.build()
    assert np.array_equal(train.images.numpy(), again.images.numpy())
    other, _ = dataclasses.replace(config.data, split_seed=1).build()
    assert not np.array_equal(train.images.numpy()[:expected[0]],
                              other.images.numpy()[:expected[0]])


def test_imbalance_errors():
    labels = np.repeat(np.arange(3), 4)
    logits = np.eye(3)[labels].copy()
    logits[labels == 2] = np.eye(3)[0]  # class 2 always wrong
    logits[0] = np.eye(3)[1]  # one class-0 error
    errors = section.imbalance_errors(logits, labels, [10, 3, 2])  # minority: 1, 2
    assert errors["error"] == pytest.approx(100 * 5 / 12)
    assert errors["minority_error"] == pytest.approx(50.0)
    assert errors["class_error"].tolist() == pytest.approx([25.0, 0.0, 100.0])
    assert minority_classes([10, 3, 2]).tolist() == [1, 2]


def test_paper_table2_transcription():
    table = section.paper_table2()
    assert table.shape == (10, 7)
    assert list(table.columns) == list(section.PAPER_GAMMAS)
    assert table.loc[("cifar10", "Pre-Training"), 0.2] == "8.0 / 8.8"
    assert table.loc[("cifar100", "SMOTE"), 2.0] == "45.8 / 56.3"
    values = section.paper_table2_values()
    assert len(values) == 70 and (values.error <= values.minority_error + 10).all()
    # the paper's claim holds in its own table
    for (dataset, gamma), s in values.groupby(["dataset", "gamma"]):
        s = s.set_index("method")
        assert s.loc["Pre-Training"].error < s.drop("Pre-Training").error.min()


def test_smoke_end_to_end_rows(monkeypatch, tmp_path):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    from lib import notebook

    session = notebook.start(section.SECTION, "smoke", device="cpu")
    base = section.settings_for("smoke")
    tiny = dataclasses.replace(base, extremes=(("fashion_mnist", (20, 4)),),
                               scratch=dataclasses.replace(base.scratch, epochs=1),
                               methods=("normal", "cost_sensitive"))
    rows = section.run_imbalance(session, tiny, verbose=False)
    frame = pd.DataFrame(rows)
    assert set(frame.method) == {"normal", "cost_sensitive"}
    assert set(frame.arm) == {"scratch"} and set(frame.strength) == {0.2}
    per_run = frame.groupby("method").metric.value_counts().unstack()
    assert (per_run["class_error"] == 10).all() and (per_run["error"] == 1).all()
    assert (per_run["minority_error"] == 1).all()
    assert frame.loc[frame.metric == "train_size", "value"].tolist() == \
        [float(sum(tiny.class_sizes("fashion_mnist", 0.2)))] * 2
    session.record(rows)
    summary = section.summary(session.results(), tiny)
    assert len(summary) == 2 and summary.error.between(0, 100).all()
    table = section.table2(summary, "fashion_mnist")
    assert list(table.index) == ["Normal Training", "Cost Sensitive"]
    assert table.loc["Normal Training", 0.2].count(" / ") == 1
    per_class = section.per_class_errors(session.results(), tiny, "fashion_mnist", 0.2,
                                         methods=("normal", "cost_sensitive"))
    assert per_class.shape == (10, 2)
