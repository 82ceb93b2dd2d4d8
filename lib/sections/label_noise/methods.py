"""§3.1's methods (:data:`METHODS`): No Correction, Forward and GLC at 5% and
10% trusted, each in the shape of :class:`~lib.sections.base.Method`, and the
:class:`Study` they build their runs from (the corrupted training sets, the
runs' configs, the memoized test errors and estimated matrices)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from lib.evaluation.clean import clean_evaluation
from lib.evaluation.memo import memoized
from lib.experiments import finetune_run, scratch_run, source_run, target_test_data
from lib.metrics import softmax
from lib.noise import estimate_forward_matrix, estimate_glc_matrix, matrix_param
from lib.presets import DataSpec, Preset, Recipe
from lib.sections.base import ARMS, DeferredRun, Method, method_registry
from lib.training import RunConfig, TrainedRun, TrainingDataSpec, predict_logits
from lib.validation import check_choice

NAME = "label_noise"
_VIEWS_KEPT = 4  # built training views a study keeps (one strength's worth)


@dataclass
class Study:
    """What the methods build their runs from: the preset and the settings;
    to train, ``train`` (``config -> TrainedRun``, e.g. ``session.train``) and
    the data ``root``, ``device`` and ``runs_dir`` the evaluations use. A
    *cell* is a dict ``{target, seed, corruption}``, with ``source`` (a
    source variant's label) in the class-exclusion check's cells."""

    preset: Preset
    settings: object  # LabelNoiseSettings (lib.sections.label_noise.settings)
    train: Callable[[RunConfig], TrainedRun] | None = None
    root: object = None
    device: object = "cpu"
    runs_dir: object = None
    _views: dict = field(default_factory=dict, repr=False)
    _tests: dict = field(default_factory=dict, repr=False)

    def cells(self, target: str):
        """The sweep's cells of ``target``, in training order."""
        for seed in self.settings.seeds:
            for strength in self.settings.strengths:
                yield dict(target=target, seed=int(seed), corruption=float(strength))

    def check_cells(self) -> list[dict]:
        """The class-exclusion check's cells (CIFAR-10, every strength and
        seed, ``source`` set); none without an ``ablation_source``."""
        ablation = self.settings.ablation_source
        if ablation is None:
            return []
        return [{**cell, "source": ablation[0]}
                for cell in self.cells(self.settings.ablation_target)]

    # data ---------------------------------------------------------------------------------
    def data(self, cell: dict, trusted_fraction: float = 0.0,
             part: str = "all") -> TrainingDataSpec:
        """The corrupted training set; ``corrupt_labels`` is the last transform
        (after the stratified subset), so the trusted examples come first."""
        base = TrainingDataSpec(DataSpec.of(cell["target"]), size=self.settings.train_size,
                                split_seed=cell["seed"])
        return base.with_transform("corrupt_labels", kind=self.settings.kind,
                                   strength=cell["corruption"],
                                   trusted_fraction=float(trusted_fraction), part=part)

    def view(self, spec: TrainingDataSpec):
        """The built training view of ``spec``; the last few are kept, so the two
        arms of one strength share them (the sweep loops over arms innermost)."""
        if spec not in self._views:
            if len(self._views) >= _VIEWS_KEPT:
                self._views.pop(next(iter(self._views)))
            self._views[spec] = spec.build(self.root)[0]
        return self._views[spec]

    # runs ---------------------------------------------------------------------------------
    def label(self, arm: str, cell: dict, tag: str) -> str:
        source = f":{cell['source']}" if cell.get("source") else ""
        return (f"{NAME}[{self.preset.name}:{cell['target']}:{arm}{source}:{tag}:"
                f"seed{cell['seed']}]")

    def config(self, arm: str, cell: dict, data: TrainingDataSpec, tag: str,
               corrected: bool = False, track: bool = False, recipe: Recipe | None = None,
               **changes) -> RunConfig:
        """The run config of one stage in ``arm`` ("scratch" | "pretrained");
        a cell with a ``source`` fine-tunes from the ``ablation_source``."""
        check_choice("arm", arm, ARMS)
        s, target, seed = self.settings, cell["target"], cell["seed"]
        if cell.get("source"):
            if arm != "pretrained" or s.ablation_source is None \
                    or cell["source"] != s.ablation_source[0]:
                raise ValueError(f"a cell with source {cell['source']!r} needs the pretrained "
                                 f"arm (got {arm!r}) and that ablation_source (settings: "
                                 f"{s.ablation_source and s.ablation_source[0]!r})")
            changes["source"] = source_run(self.preset, source=s.ablation_source[1])
        if arm == "scratch":
            return scratch_run(self.preset, seed, data=data, recipe=recipe or s.scratch,
                               track=track, target=target, label=self.label(arm, cell, tag),
                               **changes)
        return finetune_run(self.preset, seed, data=data,
                            recipe=recipe or (s.finetune_corrected if corrected else s.finetune),
                            track=track, target=target, label=self.label(arm, cell, tag),
                            **changes)

    def long_cell(self, target: str, seed: int) -> dict:
        """Figure 1's cell: ``long_run_strength`` (its pre-trained reference is
        the no-correction run of this cell)."""
        return dict(target=target, seed=int(seed),
                    corruption=float(self.settings.long_run_strength))

    def long_run(self, target: str, seed: int) -> RunConfig:
        """Figure 1: from scratch, no correction, ``long_run_epochs`` at
        ``long_run_strength``, the clean test error tracked every epoch."""
        s, cell = self.settings, self.long_cell(target, seed)
        return self.config("scratch", cell, self.data(cell), f"long_s{s.long_run_strength:g}",
                           track=True, recipe=replace(s.scratch, epochs=s.long_run_epochs))

    # evaluations (memoized) ---------------------------------------------------------------
    def memo(self, name: str, run: TrainedRun, data: list, params: dict, compute):
        return memoized(name, run, data, params, compute, device=self.device,
                        runs_dir=self.runs_dir)

    def probabilities(self, run: TrainedRun, dataset) -> np.ndarray:
        return softmax(predict_logits(run.model, dataset, self.device))

    def test_error(self, run: TrainedRun, target: str) -> dict:
        """``{"error": top-1 error on the clean test set (%), "n": test images}``."""
        spec = target_test_data(self.preset, target)

        def load():
            if spec not in self._tests:
                self._tests[spec] = spec.build(self.root)
            return self._tests[spec]

        result = clean_evaluation(run, spec, self.device, self.root, self.runs_dir, load)
        return {"error": result["error"], "n": result["n"]}


# -- methods --------------------------------------------------------------------------------

METHODS = method_registry(NAME)


def _tag(prefix: str, cell: dict) -> str:
    return f"{prefix}_s{cell['corruption']:g}"


def _no_correction_config(study: Study, arm: str, cell: dict) -> RunConfig:
    """Cross-entropy on the noisy labels."""
    return study.config(arm, cell, study.data(cell), _tag("none", cell))


def _two_stage(name: str, title: str, prefix: str, stage1: Callable, correction: Callable,
               **kwargs) -> Method:
    """A corrected method: ``stage1(study, arm, cell) -> RunConfig`` is trained
    first; ``correction(study, cell, stage1_run) -> (data, objective,
    objective_params)`` gives stage 2, retrained from the same initialisation
    with the correction recipe."""

    def final(study, arm, cell, first):
        data, objective, params = correction(study, cell, first)
        return study.config(arm, cell, data, _tag(prefix, cell), corrected=True,
                            objective=objective, objective_params=params)

    def train(study, arm, cell):
        return study.train(final(study, arm, cell, study.train(stage1(study, arm, cell))))

    def plan(study, arm, cell):
        first = stage1(study, arm, cell)
        return [first, DeferredRun(study.label(arm, cell, _tag(prefix, cell)), (first,))]

    return Method(name, title, ARMS, train=train, plan=plan, stages=2, **kwargs)


def _forward_stage1(study: Study, arm: str, cell: dict) -> RunConfig:
    """Forward's stage 1: cross-entropy on the noisy labels with the arm's
    correction recipe (the official code's one rate for both stages); the
    ``no_correction`` run itself where the two recipes of the arm agree."""
    s = study.settings
    if arm == "scratch" or s.finetune_corrected == s.finetune:
        return _no_correction_config(study, arm, cell)
    return study.config(arm, cell, study.data(cell), _tag("forward", cell) + "_stage1",
                        corrected=True)


def _forward_correction(study: Study, cell: dict, first: TrainedRun):
    """Forward (Patrini et al. 2017): C from stage 1's softmax on its own noisy
    training set (the target's anchor rule), then the loss on softmax·C."""
    data = study.data(cell)
    percentile = study.settings.anchor_percentile(cell["target"])

    def compute():
        probabilities = study.probabilities(first, study.view(data))
        return estimate_forward_matrix(probabilities, percentile).tolist()

    matrix = study.memo("forward_matrix", first, [data], {"percentile": percentile}, compute)
    return data, "forward_corrected", (("matrix", matrix_param(matrix)),)


def _glc_stage1(study: Study, arm: str, cell: dict, fraction: float) -> RunConfig:
    """GLC's stage 1: the untrusted (corrupted) part only."""
    return study.config(arm, cell, study.data(cell, fraction, "untrusted"),
                        _tag(f"glc{fraction:g}", cell) + "_stage1", corrected=True)


def _glc_correction(study: Study, cell: dict, first: TrainedRun, fraction: float):
    """GLC (Hendrycks et al. 2018): C = mean stage-1 softmax over the trusted
    examples of each clean class; stage 2 on all the data."""
    trusted_spec = study.data(cell, fraction, "trusted")

    def compute():
        trusted = study.view(trusted_spec)
        matrix = estimate_glc_matrix(study.probabilities(first, trusted),
                                     trusted.labels.numpy(), trusted.num_classes)
        return {"matrix": matrix.tolist(), "num_trusted": len(trusted)}

    estimate = study.memo("glc_matrix", first, [trusted_spec], {}, compute)
    return study.data(cell, fraction, "all"), "glc", (
        ("matrix", matrix_param(estimate["matrix"])), ("num_trusted", int(estimate["num_trusted"])))


def _gold_loss_correction(percent: int) -> Method:
    fraction = percent / 100
    return _two_stage(f"glc_{percent}", f"GLC ({percent}% Trusted)", f"glc{fraction:g}",
                      partial(_glc_stage1, fraction=fraction),
                      partial(_glc_correction, fraction=fraction),
                      facts=(("trusted_fraction", fraction),))


METHODS.add("no_correction", Method.single_stage("no_correction", "No Correction", ARMS,
                                                 _no_correction_config))
METHODS.add("forward", _two_stage("forward", "Forward Correction", "forward",
                                  _forward_stage1, _forward_correction))
METHODS.add("glc_5", _gold_loss_correction(5))
METHODS.add("glc_10", _gold_loss_correction(10))
