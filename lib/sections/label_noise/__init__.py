"""Robustness to label corruption (paper §3.1, Table 1, Figures 1 and 2).

A trusted fraction of the training set keeps its clean labels; the rest is
corrupted at strength ``s`` with ``C = (1 − s)·I + s·11ᵀ/K`` (uniform, see
:mod:`lib.noise`). Every method is trained at s = 0, 0.1, …, 1.0 (the paper
preset; coarser at quick/smoke) in two arms — from scratch and fine-tuned
from the pre-trained source — and summarised by the area under its test-error
curve (percent × strength, trapezoid rule; :func:`lib.metrics.area_under_error_curve`).

Methods (registry :data:`METHODS` of :class:`~lib.sections.base.Method`):

* ``no_correction``: plain cross-entropy on the noisy labels.
* ``forward`` (Patrini et al. 2017): stage 1 trains on the noisy labels with
  the correction recipe, as the official code trains both stages at one rate
  (hendrycks/pre-training ``robustness/label_corruption/train_forward.py``:
  lr 0.01 for both stages of the pre-trained arm, lines 194 and 341); where
  that recipe is the arm's no-correction recipe (from scratch; both arms at
  quick and smoke) stage 1 *is* the ``no_correction`` run, a cache hit. C is
  estimated from stage 1's softmax on the training set with the anchor rule
  of the target (:meth:`LabelNoiseSettings.anchor_percentile`; the official
  code: the 97th percentile for CIFAR-10, the plain argmax otherwise, same
  file lines 316–320; :func:`lib.noise.estimate_forward_matrix`); stage 2
  retrains from the same initialisation with the loss on softmax·C.
* ``glc_5`` / ``glc_10`` (Hendrycks et al. 2018), 5% / 10% trusted: stage 1
  trains on the untrusted part; C is the mean softmax over the trusted examples
  of each clean class (:func:`lib.noise.estimate_glc_matrix`); stage 2
  retrains from the same initialisation on all the data — corrected loss on the
  untrusted part, plain cross-entropy on the trusted part. Both stages use the
  correction recipe, as the official code uses one learning rate for both.

Recipes (paper §3.1): from scratch 100 epochs at lr 0.1 with dropout 0.3 for
every method; pre-trained 10 epochs without dropout, lr 0.001 without a
correction and 0.01 with one. Every stage goes through the run cache, so an
interrupted sweep resumes and a finished one re-renders without training; the
test errors and the estimated matrices are memoized (:mod:`lib.evaluation.memo`).
The corruption (and the trusted split) is drawn from the run's seed:
``TrainingDataSpec.split_seed = seed``.

Where the official code differs beyond the recipes (issue 27; each stated in
:mod:`lib.noise` where it happens, and on the page): Forward's CIFAR-10 anchor
rows, zeroed in part through a numpy view there, untouched here; GLC's second
stage, two forward passes (trusted, untrusted) and a division by 128 there, one
pass and the batch mean here; the trusted split, the first 5% or 10% of the
file there, class-stratified here; the pre-trained arm's classifier, without a
bias there; the inputs of the official Forward/GLC scripts, normalised with the
CIFAR statistics although the source saw (x − 0.5)/0.5.

Figure 1: one long from-scratch run without a correction at
``long_run_strength``, its clean test error tracked every epoch, against the
pre-trained no-correction model at the same strength.

The class-exclusion check (§3.1, paper preset only; :mod:`lib.sections.exclusion`):
No Correction fine-tuned on CIFAR-10 from the source without the CIFAR-10-related
classes, at every strength and seed, as the pre-trained arm; its rows carry the
source's label on the ``source`` axis, and its area stands beside the full
source's in Table 1 (the paper: 14.5 against 15.9).

The page is a package, one module per job: :mod:`~lib.sections.label_noise.methods`
(the methods and the study they build their runs from),
:mod:`~lib.sections.label_noise.settings` (the settings per preset),
:mod:`~lib.sections.label_noise.runs` (plan, run and the areas),
:mod:`~lib.sections.label_noise.report` (tables and figures) and
:mod:`~lib.sections.label_noise.claims`. Their names are re-exported here.
"""

from __future__ import annotations

from lib.presets import Preset
from lib.sections import SECTIONS
from lib.sections.label_noise.claims import (  # noqa: F401
    COMPARISONS,
    Comparison,
    claims,
    exclusion_claim,
)
from lib.sections.label_noise.methods import (  # noqa: F401
    METHODS,
    NAME,
    Study,
    _forward_correction,
)
from lib.sections.label_noise.report import (  # noqa: F401
    PAPER_EXCLUDED_AUC,
    PAPER_TABLE1,
    PAPER_TARGETS,
    data_summary,
    exclusion_rows,
    figure1,
    figure2,
    memorisation,
    paper_table1,
    recipe_selection,
    table1,
)
from lib.sections.label_noise.runs import (  # noqa: F401
    area_rows,
    areas,
    cell_errors,
    plan,
    run,
    trapezoid_weights,
)
from lib.sections.label_noise.settings import (  # noqa: F401
    SETTINGS,
    LabelNoiseSettings,
)
from lib.sections.base import Section

SECTION = Section(
    name=NAME, title="Robustness to label corruption", paper="§3.1, Table 1, Figures 1 and 2",
    settings=SETTINGS, plan=plan, run=run, claims=claims,
    tables={"data": data_summary, "table1": table1, "paper_table1": paper_table1,
            "memorisation": memorisation, "recipe_selection": recipe_selection},
    figures={"figure2": figure2, "figure1": figure1})
SECTIONS.add(SECTION.name, SECTION)


def settings_for(preset: str | Preset) -> LabelNoiseSettings:
    """The §3.1 settings of ``preset`` (a name or a :class:`Preset`)."""
    return SECTION.settings_for(preset)
