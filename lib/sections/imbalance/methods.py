"""§3.2's methods (:data:`METHODS`): Normal Training, Cost Sensitive,
Oversampling, SMOTE, logit adjustment (beyond the paper) from scratch and
Pre-Training, each in the shape of :class:`~lib.sections.base.Method`, built
from a :class:`Context` (the preset and the settings) on the power-law
training set of a cell."""

from __future__ import annotations

from lib.experiments import finetune_run, scratch_run, source_run
from lib.imbalance import class_priors
from lib.presets import DataSpec, Preset
from lib.sections.base import Method, MethodContext, method_registry
from lib.training import RunConfig, TrainingDataSpec
from lib.validation import check_choice

NAME = "imbalance"

METHODS = method_registry(NAME)


# What a method's builder sees (the preset, the ImbalanceSettings, the session when running).
Context = MethodContext


def imbalanced_data(settings, target: str, gamma: float,
                    seed: int) -> TrainingDataSpec:
    """The whole training set of ``target`` cut to the power-law sizes at
    ``gamma``, drawn by ``seed``."""
    a, b = settings.largest_smallest(target)
    return TrainingDataSpec(DataSpec.of(target), size=None, split_seed=seed).with_transform(
        "power_law_imbalance", gamma=float(gamma), largest=int(a), smallest=int(b))


def _label(context: Context, cell: dict, name: str) -> str:
    source = f":{cell['source']}" if cell.get("source") else ""
    return (f"imbalance[{context.preset.name}:{cell['target']}:gamma{cell['gamma']}:"
            f"{name}{source}:seed{cell['seed']}]")


def _baseline(name: str, title: str, *transforms, in_paper: bool = True,
              objective=None) -> Method:
    """A baseline trained from scratch on the imbalanced set, followed by
    ``transforms`` (name, params) and with ``objective(context, cell)`` →
    (objective, params) when given."""
    def build(context: Context, arm: str, cell: dict) -> RunConfig:
        s, target = context.settings, cell["target"]
        data = imbalanced_data(s, target, cell["gamma"], cell["seed"])
        for transform, params in transforms:
            data = data.with_transform(transform, **params(s))
        changes = {}
        if objective is not None:
            changes["objective"], changes["objective_params"] = objective(context, cell)
        return scratch_run(context.preset, cell["seed"], data=data, recipe=s.scratch,
                           target=target, label=_label(context, cell, name), **changes)

    return METHODS.add(name, Method.single_stage(name, title, ("scratch",), build,
                                                 in_paper=in_paper))


def _pretraining_build(context: Context, arm: str, cell: dict) -> RunConfig:
    """Pre-Training: the source model tuned on the imbalanced set; a cell with a
    ``source`` (the class-exclusion check) tunes the ``ablation_source``."""
    s, target = context.settings, cell["target"]
    source = None
    if cell.get("source"):
        if s.ablation_source is None or cell["source"] != s.ablation_source[0]:
            raise ValueError(f"cell source {cell['source']!r} is not the settings' "
                             f"ablation_source ({s.ablation_source and s.ablation_source[0]!r})")
        source = source_run(context.preset, source=s.ablation_source[1])
    return finetune_run(context.preset, cell["seed"],
                        data=imbalanced_data(s, target, cell["gamma"], cell["seed"]),
                        recipe=s.pretraining, target=target, source=source,
                        label=_label(context, cell, "pretraining"))


def _logit_objective(context: Context, cell: dict):
    priors = class_priors(context.settings.class_sizes(cell["target"], cell["gamma"]))
    return "logit_adjusted", (("priors", priors), ("tau", float(context.settings.logit_tau)))


_baseline("normal", "Normal Training")
_baseline("cost_sensitive", "Cost Sensitive", ("class_weights", lambda s: {}))
_baseline("oversampling", "Oversampling", ("oversample", lambda s: {}))
_baseline("smote", "SMOTE", ("smote", lambda s: {"k_neighbors": int(s.smote_neighbors)}))
METHODS.add("pretraining", Method.single_stage("pretraining", "Pre-Training", ("pretrained",),
                                               _pretraining_build))
_baseline("logit_adjustment", "Logit adjustment (not in the paper)", in_paper=False,
          objective=_logit_objective)


def method_names() -> list[str]:
    return list(METHODS)


def baselines() -> list[str]:
    """The paper's baselines (Table 2's rows trained from scratch)."""
    return [name for name, m in METHODS.items() if m.in_paper and m.arms == ("scratch",)]


def build_run(method: str, preset: Preset, settings, target: str,
              gamma: float, seed: int, arm: str | None = None) -> RunConfig:
    """The (final) run of ``method`` for one target, γ and seed (``arm``:
    the method's first arm by default)."""
    m = METHODS[method]
    arm = arm or m.arms[0]
    check_choice("arm", arm, m.arms)
    cell = dict(target=target, gamma=float(gamma), seed=int(seed))
    return m.plan(Context(preset, settings), arm, cell)[-1]
