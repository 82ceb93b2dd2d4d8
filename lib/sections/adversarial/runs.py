"""§3.3's runs and their evaluations: the adversarial source, Table 3's rows
(:data:`METHODS`) for every target × seed and the class-exclusion check's
models; each scored by memoized :class:`~lib.evaluation.attacks.Evaluation`
objects (clean, PGD, AutoAttack, the official PGD start, the sanity curves);
:func:`run` returns the rows."""

from __future__ import annotations

import functools
from dataclasses import replace

from lib.evaluation.attacks import (
    Evaluation,
    autoattack_evaluation,
    clean_accuracy_evaluation,
    evaluate,
    pgd_evaluation,
)
from lib.experiments import (finetune_run, released_source, scratch_run, source_run,
                             source_track_size)
from lib.presets import DataSpec, Preset
from lib.sections.adversarial.settings import (
    CHECK_METHOD,
    NAME,
    ROWS,
    SANITY_CURVES,
    SOURCE_METHOD,
    AdversarialSettings,
    _resolve,
)
from lib.sections.base import Method, MethodContext, method_registry
from lib.training import EvalDataSpec, RunConfig, TrainingDataSpec
from lib.validation import check_choice

# -- Table 3's rows: one registry of methods ---------------------------------------------------

METHODS = method_registry(NAME)


def _table3_method(name: str, title: str, arm: str) -> Method:
    """Table 3's row ``name``: one run, :func:`row_run` for the cell's target and seed."""
    return Method.single_stage(
        name, title, (arm,),
        lambda context, arm, cell: row_run(context.preset, name, cell["target"], cell["seed"]))


for _name, (_title, _arm) in ROWS.items():
    METHODS.add(_name, _table3_method(_name, _title, _arm))


# -- the runs ---------------------------------------------------------------------------------

def adversarial_source_run(preset: str | Preset, seed: int = 0, architecture: str | None = None,
                           source: DataSpec | None = None) -> RunConfig:
    """Adversarial pre-training on the source against an untargeted PGD
    adversary (paper §3.3), built like :func:`lib.experiments.source_run`
    (the source's held-out test error tracked every epoch) with the
    ``"adversarial"`` objective. A pure config builder: at quick the trained
    model ships as a checkpoint; ``train_or_load`` finds it by its key.
    ``architecture`` and ``source`` (a source variant, same images per class
    cap) default to the settings'; the class-exclusion check changes both."""
    s, preset = _resolve(preset)
    data = s.source_data if source is None else replace(s.source_data, dataset=source)
    architecture = architecture or s.architecture
    tag = "" if architecture == s.architecture else f":{architecture}"
    tag += "" if source is None else f":{dict(source.options)}"
    return released_source(RunConfig(
        architecture=architecture, in_channels=preset.in_channels, data=data,
        recipe=s.source_recipe, seed=seed,
        init=source_run(preset, seed) if s.source_warm_start else None,
        track=EvalDataSpec(data.dataset, size=source_track_size(preset, data.size),
                          split="test"),
        objective="adversarial", objective_params=s.source_params,
        label=f"adv-pretrain[{preset.name}:{data.dataset.name}{tag}]",
        world_size=preset.source_world_size), preset)


def row_run(preset: str | Preset, row: str, target: str | None = None, seed: int = 0) -> RunConfig:
    """The run of Table 3's ``row`` (a name in :data:`METHODS`) for ``target``."""
    check_choice("row", row, METHODS)
    s, preset = _resolve(preset)
    target = target or s.targets[0]
    check_choice("target", target, s.targets)
    arch = dict(architecture=s.architecture)
    data = (None if s.train_size is None
            else TrainingDataSpec(DataSpec.of(target), size=s.train_size))
    tag = f"{preset.name}:{target}:seed{seed}"
    if row == "normal":
        # track=True: at quick, the same run as the pre-training page's from-scratch model
        return scratch_run(preset, seed, data=data, target=target, track=True, recipe=s.normal,
                           **arch)
    adversarial = dict(objective="adversarial", objective_params=s.train_params, **arch)
    if row == "adversarial":
        return scratch_run(preset, seed, data=data, target=target, recipe=s.scratch,
                           label=f"adv-train[{tag}]", **adversarial)
    recipe = s.finetune if row == "adversarial_pretrained" else s.last_layer
    return finetune_run(preset, seed, data=data, target=target, recipe=recipe,
                        source=adversarial_source_run(preset),
                        label=f"adv-{'tune' if row == 'adversarial_pretrained' else 'last-layer'}"
                              f"[{tag}]", **adversarial)


def check_runs(preset: str | Preset, seed: int = 0) -> dict:
    """The class-exclusion check's tuned models: ``{source: RunConfig}`` for
    the full source ("") and the settings' ``ablation_source`` (its label),
    each ``ablation_architecture`` adversarially pre-trained on that source
    (:func:`adversarial_source_run`) then adversarially tuned on CIFAR-10 as
    Table 3's ``adversarial_pretrained`` row; ``{}`` without an ablation source."""
    s, preset = _resolve(preset)
    if s.ablation_source is None:
        return {}
    target, architecture = s.ablation_target, s.ablation_architecture
    data = (None if s.train_size is None
            else TrainingDataSpec(DataSpec.of(target), size=s.train_size))
    label, spec = s.ablation_source
    out = {}
    for name, source in (("", None), (label, spec)):
        init = adversarial_source_run(preset, architecture=architecture, source=source)
        out[name] = finetune_run(
            preset, seed, data=data, target=target, recipe=s.finetune, source=init,
            architecture=architecture, objective="adversarial", objective_params=s.train_params,
            label=f"adv-tune[{preset.name}:{target}:{architecture}:{name or 'full source'}:"
                  f"seed{seed}]")
    return out


def table3_runs(preset: str | Preset, target: str | None = None, seed: int = 0) -> dict:
    """Every row's run for ``target``: ``{row: RunConfig}`` in :data:`METHODS` order."""
    return {row: row_run(preset, row, target, seed) for row in METHODS}


def cells(settings: AdversarialSettings) -> list[dict]:
    """Table 3's cells: one per target × seed."""
    return [dict(target=t, seed=seed) for t in settings.targets for seed in settings.seeds]


def plan(preset: Preset) -> list[RunConfig]:
    """Every run of §3.3: the adversarial source (after its clean warm-start
    parent, where there is one), then Table 3's rows for every target × seed."""
    s, preset = _resolve(preset)
    source = adversarial_source_run(preset)
    runs = [source.init] if source.init is not None else []
    runs.append(source)
    context = MethodContext(preset, s)
    for cell in cells(s):
        for method in METHODS.values():
            for arm in method.arms:
                runs += method.plan(context, arm, cell)
    for seed in s.seeds:  # the class-exclusion check, each source before its tuned model
        for config in check_runs(preset, seed).values():
            runs += [config.init, config]
    return runs


# -- evaluations ------------------------------------------------------------------------------

def attack_test_data(preset: str | Preset, target: str, size: int | None = None) -> EvalDataSpec:
    """The test images attacked for ``target``: a class-stratified subset of
    ``size`` (default: the settings' ``attack_size``; ``None`` = the preset's
    test set)."""
    s, preset = _resolve(preset)
    size = size if size is not None else s.attack_size
    caps = [c for c in (size, preset.test_size) if c is not None]
    return EvalDataSpec(DataSpec.of(target), size=min(caps) if caps else None)


def _autoattack(s: AdversarialSettings, data: EvalDataSpec, seed: int) -> Evaluation:
    return autoattack_evaluation(data, s.eps, seed, s.autoattack_version,
                                 s.autoattack_iterations, s.autoattack_square_queries)


def robustness_evaluations(preset: str | Preset, row: str, target: str,
                           seed: int = 0) -> list[Evaluation]:
    """Table 3's evaluations of ``row``: clean and PGD-``test_steps`` accuracy
    on the attacked test set (``eval_set`` "pgd"); for the AutoAttack rows,
    clean, PGD and AutoAttack accuracy on the same smaller set ("autoattack"),
    so the two attacks compare on the same images."""
    s, preset = _resolve(preset)
    check_choice("row", row, METHODS)
    out = _scored(s, attack_test_data(preset, target), "pgd", seed)
    if row in s.autoattack_rows:
        data = attack_test_data(preset, target, s.autoattack_size)
        out += _scored(s, data, "autoattack", seed) + [_autoattack(s, data, seed)]
    return out


OFFICIAL_START_METRIC = "pgd_accuracy_official_start"


def official_start_evaluations(preset: str | Preset, row: str, target: str,
                               seed: int = 0) -> list[Evaluation]:
    """PGD-``test_steps`` accuracy of ``row`` under the official code's start
    (metric :data:`OFFICIAL_START_METRIC`, eval set "pgd"): the same attacked
    images, ε, step, steps and random noise (``seed``) as Table 3's PGD
    accuracy, only the ε-ball centred on the noisy start
    (:func:`lib.attacks.pgd_linf`, ``start="official"``); none for a row not in
    ``official_start_rows``."""
    s, preset = _resolve(preset)
    check_choice("row", row, METHODS)
    if row not in s.official_start_rows:
        return []
    return [pgd_evaluation(OFFICIAL_START_METRIC, "pgd", attack_test_data(preset, target),
                           s.eps, s.test_step_size, s.test_steps, seed, start="official")]


def check_evaluations(preset: str | Preset, seed: int = 0) -> list[Evaluation]:
    """The class-exclusion check's evaluations (the paper: PGD-20 only): clean
    and PGD-``test_steps`` accuracy on CIFAR-10's attacked test set."""
    s, preset = _resolve(preset)
    return _scored(s, attack_test_data(preset, s.ablation_target), "pgd", seed)


def _scored(s: AdversarialSettings, data: EvalDataSpec, eval_set: str,
            seed: int) -> list[Evaluation]:
    """Clean and PGD-``test_steps`` accuracy on ``data``, shown as ``eval_set``."""
    return [clean_accuracy_evaluation("clean_accuracy", eval_set, data),
            pgd_evaluation("pgd_accuracy", eval_set, data, s.eps, s.test_step_size, s.test_steps,
                           seed)]


def sanity_evaluations(preset: str | Preset, row: str, target: str,
                       seed: int = 0) -> list[Evaluation]:
    """The sanity curves of ``row`` (those of :data:`SANITY_CURVES`, on the
    first target and seed; else none), on ``curve_size`` test images: clean
    accuracy; accuracy against ε (``eps_multiples`` × ε under
    PGD-``curve_steps``, step ``test_step_fraction``·ε); and against the number
    of PGD steps at ε (``steps_grid``, step ``test_step_size``). Every point
    starts from the same random noise (one ``seed``)."""
    s, preset = _resolve(preset)
    if row not in SANITY_CURVES or (target, seed) != (s.targets[0], s.seeds[0]):
        return []
    data = attack_test_data(preset, target, s.curve_size)
    out = [clean_accuracy_evaluation("clean_accuracy", "sanity", data)]
    if "eps" in SANITY_CURVES[row]:
        for eps in (float(m * s.eps) for m in s.eps_multiples):
            out.append(pgd_evaluation("sanity_eps", "sanity", data, eps,
                                      s.test_step_fraction * eps, s.curve_steps, seed))
    if "steps" in SANITY_CURVES[row]:
        out += [pgd_evaluation("sanity_steps", "sanity", data, s.eps, s.test_step_size, k, seed)
                for k in s.steps_grid]
    return out


def history_entries(run) -> list[dict]:
    """The adversarial source's per-epoch history (``epoch`` axis): training
    loss and accuracy on the adversarial examples it trains on, and the clean
    source test error."""
    out = []
    for h in run.history:
        out += [dict(metric="train_loss", value=h["loss"], unit="nats", epoch=h["epoch"],
                     eval_set="adversarial train"),
                dict(metric="train_accuracy", value=100 * h["accuracy"], unit="%",
                     epoch=h["epoch"], eval_set="adversarial train")]
        if h.get("test_error") is not None:
            out.append(dict(metric="test_error", value=100 * h["test_error"], unit="%",
                            epoch=h["epoch"], eval_set="source test"))
    return out


def cost_entries(run) -> list[dict]:
    """What training ``run`` cost: epochs and training images processed (the
    training time is the rows' ``wall_time_s``)."""
    images = sum(h["images_per_s"] * h["seconds"] for h in run.history)
    return [dict(metric="epochs", value=len(run.history), unit="epochs"),
            dict(metric="training_images", value=round(images), unit="images")]


def run(session) -> list[dict]:
    """Train or load the adversarial source and every row of Table 3 for each
    target × seed (through ``session.train``), evaluate them (memoized) and
    return the rows: clean / PGD / AutoAttack accuracy, PGD accuracy under the
    official start (the ``official_start_rows``), the sanity curves, the
    training cost and the source's per-epoch history."""
    s, preset = session.settings, session.preset
    images = functools.cache(lambda spec: spec.build(session.data_root))
    source = session.train(adversarial_source_run(preset))
    rows = session.rows(source, history_entries(source) + cost_entries(source),
                        dataset=source.config.data.dataset.name, method=SOURCE_METHOD,
                        arm="pretrained")
    for cell in cells(s):
        for name, method in METHODS.items():
            for arm in method.arms:
                trained = method.train(session, arm, cell)
                evaluations = (robustness_evaluations(preset, name, cell["target"], cell["seed"])
                               + official_start_evaluations(preset, name, cell["target"],
                                                            cell["seed"])
                               + sanity_evaluations(preset, name, cell["target"], cell["seed"]))
                entries = [e.entry(evaluate(e, trained, images, session.device,
                                            session.runs_dir)) for e in evaluations]
                rows += session.rows(trained, entries + cost_entries(trained),
                                     dataset=cell["target"], method=name, arm=arm)
    for seed in s.seeds:  # the class-exclusion check
        for source, config in check_runs(preset, seed).items():
            trained = session.train(config)
            entries = [e.entry(evaluate(e, trained, images, session.device, session.runs_dir))
                       for e in check_evaluations(preset, seed)]
            rows += session.rows(trained, entries, dataset=s.ablation_target,
                                 method=CHECK_METHOD, arm="pretrained", source=source)
    return rows
