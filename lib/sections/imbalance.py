"""Paper §3.2, robustness to class imbalance (Table 2, Figure 3).

The section's settings per preset (:data:`SETTINGS`), its methods as a
registry of run builders (:data:`METHODS`), and the pipeline that trains (or
loads) every run and turns it into result rows (:func:`run_imbalance`).

* **Training sets.** The full training set of the target, cut to power-law
  class sizes n_c = α/(β + c^γ) with n_1 = a and n_K = b
  (:func:`lib.imbalance.power_law_class_sizes`; design.md §7), drawn without
  replacement by the run's seed (``split_seed = seed``: every repeat draws its
  own subset). Class 0 is the largest.
* **Test set.** The target's balanced test set (the preset's class-stratified
  ``test_size`` subset, :func:`lib.experiments.target_test_data`).
* **Minority classes** are those with n_c below the mean class size; the
  *minority error* is the error on the test examples of those classes and the
  *total error* the error on all of them (percent).
* **Methods** (paper §3.2): Normal Training (cross-entropy, from scratch),
  Cost Sensitive (loss weights ∝ 1/n_c, Huang et al. 2016), Oversampling
  (random replication up to the largest class, Japkowicz 2000), SMOTE (Chawla et
  al. 2002; imbalanced-learn on flattened pixels, 5 neighbours, then the usual
  crop-and-flip augmentation), Pre-Training (fine-tune the source model without
  dropout; paper: 50 epochs at lr 0.001). The baselines train from scratch
  (paper: 100 epochs, lr 0.1, dropout 0.3). Beyond the paper: logit adjustment
  (Menon et al. 2021, τ = 1) from scratch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from lib.data.registry import dataset_info
from lib.evaluation.memo import memoized
from lib.experiments import finetune_run, scratch_run, target_test_data
from lib.imbalance import class_priors, minority_classes, power_law_class_sizes
from lib.presets import DataSpec, Preset, Recipe, get_preset, preset_names
from lib.registry import Registry
from lib.training import RunConfig, TrainingDataSpec, predict_logits, train_or_load
from lib.training.progress import SweepProgress
from lib.validation import check_choice

SECTION = "class_imbalance"
PAPER_GAMMAS = (0.2, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0)  # Table 2


@dataclass(frozen=True)
class ImbalanceSettings:
    """What §3.2 runs at one preset.

    ``extremes`` holds ``(target, (a, b))``: the largest and smallest class
    size. ``scratch`` is the baselines' recipe, ``pretraining`` the fine-tuning
    recipe of the pre-trained method. ``figure_gamma`` is Figure 3's γ.
    """

    targets: tuple
    gammas: tuple
    extremes: tuple
    scratch: Recipe
    pretraining: Recipe
    seeds: tuple
    methods: tuple = ()  # default: every registered method
    figure_gamma: float = 0.2
    smote_neighbors: int = 5
    logit_tau: float = 1.0

    def largest_smallest(self, target: str) -> tuple[int, int]:
        check_choice("target", target, self.targets)
        return tuple(dict(self.extremes)[target])

    def class_sizes(self, target: str, gamma: float) -> list[int]:
        """Training class sizes n_0 ≥ … ≥ n_{K-1} of ``target`` at ``gamma``."""
        a, b = self.largest_smallest(target)
        return power_law_class_sizes(dataset_info(target).num_classes, gamma, a, b)

    def method_names(self) -> list[str]:
        return list(self.methods) if self.methods else list(METHODS)

    def describe(self) -> str:
        """The settings as text (deterministic: compared by nbval)."""
        lines = [f"targets          : {list(self.targets)}",
                 f"gammas           : {list(self.gammas)} (Figure 3 at γ = {self.figure_gamma})",
                 f"methods          : {self.method_names()}",
                 f"from scratch     : {self.scratch}",
                 f"pre-training     : {self.pretraining}",
                 f"seeds            : {list(self.seeds)}",
                 f"SMOTE neighbours : {self.smote_neighbors}; logit adjustment τ = {self.logit_tau}"]
        for target in self.targets:
            a, b = self.largest_smallest(target)
            lines.append(f"{target}: (a, b) = ({a}, {b})")
            for gamma in self.gammas:
                sizes = self.class_sizes(target, gamma)
                minority = minority_classes(sizes)
                shown = sizes if len(sizes) <= 10 else sizes[:5] + ["…"] + sizes[-2:]
                lines.append(f"  γ = {gamma}: {sum(sizes)} images, sizes {shown}, "
                             f"{len(minority)} minority classes")
        return "\n".join(lines)


def _settings(preset: Preset) -> ImbalanceSettings:
    if preset.name == "paper":
        # §3.2: baselines 100 epochs at lr 0.1 with dropout 0.3 (the preset's
        # scratch recipe); pre-training tuned 50 epochs at lr 0.001 without dropout.
        return ImbalanceSettings(
            targets=("cifar10", "cifar100"), gammas=PAPER_GAMMAS,
            extremes=(("cifar10", (5000, 250)), ("cifar100", (500, 25))),
            scratch=preset.scratch, pretraining=replace(preset.finetune, epochs=50, lr=0.001,
                                                        dropout=0.0),
            seeds=preset.seeds)
    if preset.name == "quick":
        # Fashion-MNIST has 6,000 training images per class; (a, b) = (200, 10)
        # keeps the paper's ratio a/b = 20 with sets of 346 (γ = 0.2) and 577
        # (γ = 2.0) images, so that 6 methods × 2 γ fit ~7 minutes on 2 cores.
        # The paper's 2:1 ratio of epochs (100 from scratch, 50 tuned); batch
        # size and rates chosen per arm by the γ = 0.2 test error
        # (benchmarks/select_section_recipes.py): at batch 128 a 346-image epoch
        # is 3 steps and Normal Training stops far from convergence.
        return ImbalanceSettings(
            targets=("fashion_mnist",), gammas=(0.2, 2.0),
            extremes=(("fashion_mnist", (200, 10)),),
            scratch=replace(preset.scratch, epochs=30, batch_size=32),
            pretraining=replace(preset.finetune, epochs=15, lr=0.0125, batch_size=32,
                                dropout=0.0),
            seeds=preset.seeds)
    return ImbalanceSettings(  # smoke: one γ, tiny sets, the preset's short recipes
        targets=("fashion_mnist",), gammas=(0.2,),
        extremes=(("fashion_mnist", (50, 5)),),
        scratch=preset.scratch, pretraining=replace(preset.finetune, dropout=0.0),
        seeds=preset.seeds)


SETTINGS: dict[str, ImbalanceSettings] = {name: _settings(get_preset(name))
                                          for name in preset_names()}


def settings_for(preset: str | Preset) -> ImbalanceSettings:
    """The §3.2 settings of a preset (by name or :class:`Preset`)."""
    name = preset if isinstance(preset, str) else preset.name
    check_choice("preset", name, SETTINGS)
    return SETTINGS[name]


# --- methods ---------------------------------------------------------------

@dataclass(frozen=True)
class Method:
    """A class-imbalance method: ``build(preset, settings, target, gamma, seed)
    -> RunConfig``. ``arm`` is ``"scratch"`` or ``"pretrained"``."""

    name: str
    title: str
    arm: str
    in_paper: bool
    build: Callable[..., RunConfig] = field(repr=False)


METHODS: Registry[Method] = Registry("method")


def register_method(name: str, title: str, arm: str = "scratch", in_paper: bool = True):
    check_choice("arm", arm, ("scratch", "pretrained"))

    def wrap(build):
        METHODS.add(name, Method(name, title, arm, in_paper, build))
        return build
    return wrap


def method_names() -> list[str]:
    return list(METHODS)


def imbalanced_data(settings: ImbalanceSettings, target: str, gamma: float,
                    seed: int) -> TrainingDataSpec:
    """The whole training set of ``target`` cut to the power-law sizes at
    ``gamma``, drawn by ``seed``."""
    a, b = settings.largest_smallest(target)
    return TrainingDataSpec(DataSpec.of(target), size=None, split_seed=seed).with_transform(
        "power_law_imbalance", gamma=float(gamma), largest=int(a), smallest=int(b))


def _label(preset, target, gamma, seed, name) -> str:
    return f"imbalance[{preset.name}:{target}:gamma{gamma}:{name}:seed{seed}]"


def _scratch(name, preset, settings, target, gamma, seed, data, **changes) -> RunConfig:
    return scratch_run(preset, seed, data=data, recipe=settings.scratch, target=target,
                       label=_label(preset, target, gamma, seed, name), **changes)


@register_method("normal", "Normal Training")
def _normal(preset, settings, target, gamma, seed):
    return _scratch("normal", preset, settings, target, gamma, seed,
                    imbalanced_data(settings, target, gamma, seed))


@register_method("cost_sensitive", "Cost Sensitive")
def _cost_sensitive(preset, settings, target, gamma, seed):
    data = imbalanced_data(settings, target, gamma, seed).with_transform("class_weights")
    return _scratch("cost_sensitive", preset, settings, target, gamma, seed, data)


@register_method("oversampling", "Oversampling")
def _oversampling(preset, settings, target, gamma, seed):
    data = imbalanced_data(settings, target, gamma, seed).with_transform("oversample")
    return _scratch("oversampling", preset, settings, target, gamma, seed, data)


@register_method("smote", "SMOTE")
def _smote(preset, settings, target, gamma, seed):
    data = imbalanced_data(settings, target, gamma, seed).with_transform(
        "smote", k_neighbors=int(settings.smote_neighbors))
    return _scratch("smote", preset, settings, target, gamma, seed, data)


@register_method("pretraining", "Pre-Training", arm="pretrained")
def _pretraining(preset, settings, target, gamma, seed):
    return finetune_run(preset, seed, data=imbalanced_data(settings, target, gamma, seed),
                        recipe=settings.pretraining, target=target,
                        label=_label(preset, target, gamma, seed, "pretraining"))


@register_method("logit_adjustment", "Logit adjustment (not in the paper)", in_paper=False)
def _logit_adjustment(preset, settings, target, gamma, seed):
    priors = class_priors(settings.class_sizes(target, gamma))
    return _scratch("logit_adjustment", preset, settings, target, gamma, seed,
                    imbalanced_data(settings, target, gamma, seed), objective="logit_adjusted",
                    objective_params=(("priors", priors), ("tau", float(settings.logit_tau))))


def build_run(method: str, preset: Preset, settings: ImbalanceSettings, target: str,
              gamma: float, seed: int) -> RunConfig:
    """The run of ``method`` (a registered name) for one target, γ and seed."""
    check_choice("method", method, method_names())
    return METHODS[method].build(preset, settings, target, gamma, seed)


# --- evaluation ------------------------------------------------------------

def imbalance_errors(logits, labels, class_sizes) -> dict:
    """Total, minority and per-class test error (percent) of ``logits``.

    ``class_sizes`` are the training sizes (minority: below their mean)."""
    labels = np.asarray(labels)
    wrong = np.asarray(logits).argmax(1) != labels
    minority = minority_classes(class_sizes)
    per_class = np.array([100 * wrong[labels == c].mean() if np.any(labels == c) else np.nan
                          for c in range(len(class_sizes))])
    return {"error": 100 * float(wrong.mean()),
            "minority_error": 100 * float(wrong[np.isin(labels, minority)].mean()),
            "class_error": per_class}


def evaluate_run(run, test, class_sizes, device) -> dict:
    """:func:`imbalance_errors` of ``run`` on ``test`` (per-class errors as a
    list), memoized on disk (:mod:`lib.evaluation.memo`): a re-built page does
    not re-evaluate."""
    def compute() -> dict:
        errors = imbalance_errors(predict_logits(run.model, test, device),
                                  test.labels.numpy(), class_sizes)
        return {**errors, "class_error": [float(v) for v in errors["class_error"]]}

    return memoized("imbalance_errors", run.model, [test], {"class_sizes": list(class_sizes)},
                    compute, device=device)


def result_entries(errors: dict, run) -> list[dict]:
    """Rows' metric entries: total and minority error, per-class error
    (``detail`` = class index), the training set size, and the training error
    of the last epoch (augmented batches, with dropout when the recipe has it)."""
    entries = [{"metric": "error", "value": errors["error"]},
               {"metric": "minority_error", "value": errors["minority_error"]}]
    entries += [{"metric": "class_error", "detail": str(c), "value": float(v)}
                for c, v in enumerate(errors["class_error"])]
    if run.history:
        entries.append({"metric": "final_train_error",
                        "value": 100 * (1 - float(run.history[-1]["accuracy"]))})
    if "train_size" in run.info:
        entries.append({"metric": "train_size", "value": float(run.info["train_size"])})
    return entries


def run_imbalance(session, settings: ImbalanceSettings | None = None, methods=None,
                  verbose: bool = True) -> list[dict]:
    """Train (or load) every run of the section and return its result rows
    (not recorded: pass them to ``session.record``).

    ``session`` is a :class:`lib.notebook.Session` (preset, data root, device,
    ``rows``); ``settings`` default to the preset's, ``methods`` to theirs."""
    preset = session.preset
    settings = settings or settings_for(preset)
    methods = list(methods) if methods is not None else settings.method_names()
    for name in methods:
        check_choice("method", name, method_names())
    sweep = SweepProgress(len(settings.targets) * len(settings.gammas) * len(settings.seeds)
                          * len(methods), "class imbalance", enabled=verbose)
    rows: list[dict] = []
    for target in settings.targets:
        test = target_test_data(preset, target).build(session.data_root)
        for gamma in settings.gammas:
            sizes = settings.class_sizes(target, gamma)
            for seed in settings.seeds:
                for name in methods:
                    config = build_run(name, preset, settings, target, gamma, seed)
                    run = train_or_load(config, root=session.data_root, device=session.device,
                                        verbose=verbose)
                    sweep.update(run.from_cache, config.label)
                    errors = evaluate_run(run, test, sizes, session.device)
                    rows += session.rows(run, result_entries(errors, run), dataset=target,
                                         method=name, arm=METHODS[name].arm, strength=gamma)
    return rows


# --- tables ----------------------------------------------------------------

def _select(results: pd.DataFrame, settings: ImbalanceSettings) -> pd.DataFrame:
    r = results[results.dataset.isin(settings.targets)
                & results.strength.astype(float).isin([float(g) for g in settings.gammas])
                & results.seed.astype(int).isin(list(settings.seeds))
                & results.method.isin(settings.method_names())].copy()
    r["gamma"] = r.strength.astype(float)
    return r


def summary(results: pd.DataFrame, settings: ImbalanceSettings) -> pd.DataFrame:
    """Mean over seeds of total and minority error (and the training facts),
    one row per (dataset, method, γ); ``results`` are the section's stored rows."""
    r = _select(results, settings)
    r = r[r.metric.isin(["error", "minority_error", "final_train_error", "train_size"])]
    table = r.pivot_table(index=["dataset", "method", "gamma"], columns="metric",
                          values="value", aggfunc="mean")
    table["seeds"] = r[r.metric == "error"].groupby(["dataset", "method", "gamma"]).seed.nunique()
    order = {name: i for i, name in enumerate(method_names())}
    return table.reset_index().sort_values(
        ["dataset", "method", "gamma"], key=lambda s: s.map(order) if s.name == "method" else s
    ).reset_index(drop=True)


def table2(summary_frame: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Table 2's layout for ``dataset``: methods × γ, cells "total / minority"."""
    s = summary_frame[summary_frame.dataset == dataset]
    cells = s.assign(cell=[f"{t:.1f} / {m:.1f}" for t, m in zip(s.error, s.minority_error)])
    titles = [METHODS[name].title for name in method_names() if name in set(s.method)]
    table = cells.assign(method=cells.method.map(lambda n: METHODS[n].title)).pivot(
        index="method", columns="gamma", values="cell")
    return table.reindex(titles).rename_axis(index="method", columns="γ")


def per_class_errors(results: pd.DataFrame, settings: ImbalanceSettings, dataset: str,
                     gamma: float, methods=("normal", "pretraining")) -> pd.DataFrame:
    """Per-class test error (percent, mean over seeds): classes × methods."""
    r = _select(results, settings)
    r = r[(r.dataset == dataset) & (r.gamma == float(gamma)) & (r.metric == "class_error")
          & r.method.isin(methods)].copy()
    r["class"] = r.detail.astype(float).astype(int)
    return r.pivot_table(index="class", columns="method", values="value",
                         aggfunc="mean")[list(methods)]


def direction_sentences(summary_frame: pd.DataFrame, preset_name: str) -> list[str]:
    """Does our run show the paper's claim (pre-training alone has lower total
    and minority error than every task-specific baseline of the paper)?"""
    baselines = [m for m in method_names() if METHODS[m].in_paper and METHODS[m].arm == "scratch"]
    lines = []
    for (dataset, gamma), s in summary_frame.groupby(["dataset", "gamma"]):
        s = s.set_index("method")
        if "pretraining" not in s.index or not set(baselines) & set(s.index):
            continue
        pre = s.loc["pretraining"]
        base = s.loc[[m for m in baselines if m in s.index]]
        best_total, best_minority = base.error.idxmin(), base.minority_error.idxmin()
        holds = pre.error < base.error.min() and pre.minority_error < base.minority_error.min()
        lines.append(
            f"{dataset}, γ = {gamma:g} ({preset_name} preset): pre-training {pre.error:.1f}% total / "
            f"{pre.minority_error:.1f}% minority error; best baseline {base.error.min():.1f}% total "
            f"({METHODS[best_total].title}) / {base.minority_error.min():.1f}% minority "
            f"({METHODS[best_minority].title}); normal training {s.loc['normal', 'error']:.1f}% / "
            f"{s.loc['normal', 'minority_error']:.1f}%. "
            + ("Same direction as the paper." if holds
               else "This run does NOT show the paper's direction."))
    return lines


# The paper's Table 2 (test error %, "total / minority"), transcribed as printed.
_PAPER_TABLE2 = {
    "cifar10": {
        "Normal Training": ["23.7 / 26.0", "21.8 / 26.5", "21.1 / 25.8", "20.3 / 24.7",
                            "20.0 / 24.5", "18.3 / 23.1", "15.8 / 20.2"],
        "Cost Sensitive": ["22.6 / 24.9", "21.8 / 26.2", "21.1 / 25.7", "20.2 / 24.3",
                           "20.2 / 24.6", "18.1 / 22.9", "16.0 / 20.1"],
        "Oversampling": ["21.0 / 23.1", "19.4 / 23.6", "19.0 / 23.2", "18.2 / 22.2",
                         "18.3 / 22.4", "17.3 / 22.2", "15.3 / 19.8"],
        "SMOTE": ["19.7 / 21.7", "19.7 / 24.0", "19.2 / 23.4", "19.2 / 23.4", "18.1 / 22.1",
                  "17.2 / 22.1", "15.7 / 20.4"],
        "Pre-Training": ["8.0 / 8.8", "7.9 / 9.5", "7.6 / 9.2", "8.0 / 9.7", "7.4 / 9.1",
                         "7.4 / 9.5", "7.2 / 9.4"],
    },
    "cifar100": {
        "Normal Training": ["69.7 / 72.0", "66.6 / 70.5", "63.2 / 69.2", "58.7 / 65.1",
                            "57.2 / 64.4", "50.2 / 59.7", "47.0 / 57.1"],
        "Cost Sensitive": ["67.6 / 70.6", "66.5 / 70.4", "62.2 / 68.1", "60.5 / 66.9",
                           "57.1 / 64.0", "50.6 / 59.6", "46.5 / 56.7"],
        "Oversampling": ["62.4 / 66.2", "59.7 / 63.8", "59.2 / 65.5", "55.3 / 61.7",
                         "54.6 / 62.2", "49.4 / 59.0", "46.6 / 56.9"],
        "SMOTE": ["57.4 / 61.0", "56.2 / 60.3", "54.4 / 60.2", "52.8 / 59.7", "51.3 / 58.4",
                  "48.5 / 57.9", "45.8 / 56.3"],
        "Pre-Training": ["37.8 / 41.8", "36.9 / 41.3", "36.2 / 41.7", "36.4 / 42.3",
                         "34.9 / 41.5", "34.0 / 41.9", "33.5 / 42.2"],
    },
}


def paper_table2() -> pd.DataFrame:
    """The paper's Table 2 (not ours): rows (dataset, method), columns γ,
    cells "total / minority" test error in percent, as printed."""
    frames = {dataset: pd.DataFrame(rows, index=list(PAPER_GAMMAS)).T
              for dataset, rows in _PAPER_TABLE2.items()}
    table = pd.concat(frames, names=["dataset", "method"])
    return table.rename_axis(columns="γ")


def paper_table2_values() -> pd.DataFrame:
    """The paper's Table 2 as numbers: one row per (dataset, method, γ) with
    ``error`` and ``minority_error`` (percent)."""
    long = paper_table2().stack().rename("cell").reset_index()
    long.columns = ["dataset", "method", "gamma", "cell"]
    parts = long.cell.str.split(" / ", expand=True).astype(float)
    return long.drop(columns="cell").assign(error=parts[0], minority_error=parts[1])
