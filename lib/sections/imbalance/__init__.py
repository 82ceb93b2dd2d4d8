"""Paper §3.2, robustness to class imbalance (Table 2, Figure 3), on the
section protocol (:mod:`lib.sections.base`): settings per preset
(:data:`SETTINGS`), the methods (:data:`METHODS`), ``plan``, ``run``, the
tables, the figures and the claims, gathered in :data:`SECTION`.

* **Training sets.** The full training set of the target, cut to power-law
  class sizes n_c = α/(β + c^γ) with n_1 = a and n_K = b
  (:func:`lib.imbalance.power_law_class_sizes`; design.md §7), drawn without
  replacement by the run's seed (``split_seed = seed``: every repeat draws its
  own subset). Class 0 is the largest.
* **Test set.** The target's balanced test set (the preset's class-stratified
  ``test_size`` subset, :func:`lib.experiments.target_test_data`).
* **Minority classes** are those with n_c below the mean class size; the
  *minority error* is the top-1 error on the test examples of those classes,
  the *total error* on all of them (percent, :func:`lib.metrics.top1_wrong`).
* **Methods** (paper §3.2): Normal Training (cross-entropy, from scratch),
  Cost Sensitive (loss weights ∝ 1/n_c, Huang et al. 2016), Oversampling
  (random replication up to the largest class, Japkowicz 2000), SMOTE (Chawla et
  al. 2002; imbalanced-learn on flattened pixels, 5 neighbours, then the usual
  crop-and-flip augmentation), Pre-Training (fine-tune the source model without
  dropout; paper: 50 epochs at lr 0.001). The baselines train from scratch
  (paper: 100 epochs, lr 0.1, dropout 0.3). Beyond the paper: logit adjustment
  (Menon et al. 2021, τ = 1) from scratch.
* **Claims** (per target dataset): pre-training alone beats the best baseline
  of Table 2 per γ on total error, then on minority error, then beats Normal
  Training (means over γ; noise band from the seeds, or from the test-set
  sampling with one seed).
* **The class-exclusion check** (paper preset; :mod:`lib.sections.exclusion`):
  Pre-Training on CIFAR-10 at every γ and seed, fine-tuned from the source
  without the CIFAR-10-related classes; its rows carry that source's label on
  the ``source`` axis. The paper: "the total error rate increases by only 2.1%
  compared to pre-training on all classes" (read as points of total error,
  mean over γ).

The page is a package, one module per job: :mod:`~lib.sections.imbalance.methods`
(the methods and the context they build their runs from),
:mod:`~lib.sections.imbalance.settings` (the settings per preset and the paper's
numbers), :mod:`~lib.sections.imbalance.runs` (plan and run),
:mod:`~lib.sections.imbalance.report` (tables and figures) and
:mod:`~lib.sections.imbalance.claims`; the errors it measures are
:func:`lib.metrics.imbalance_errors`. Their names are re-exported here.
"""

from __future__ import annotations

from lib.experiments import target_test_data  # noqa: F401
from lib.metrics.imbalance import imbalance_errors  # noqa: F401
from lib.presets import Preset
from lib.sections import SECTIONS
from lib.sections.base import Section
from lib.sections.imbalance.claims import (  # noqa: F401
    claims,
    direction_sentences,
    exclusion_claim,
)
from lib.sections.imbalance.methods import (  # noqa: F401
    METHODS,
    NAME,
    Context,
    baselines,
    build_run,
    imbalanced_data,
    method_names,
)
from lib.sections.imbalance.report import (  # noqa: F401
    error_vs_gamma,
    figure3,
    figure3_sentences,
    optimizer_steps,
    paper_table2,
    paper_table2_values,
    recipe_selection,
    summary,
    table2,
    training_facts,
)
from lib.sections.imbalance.runs import evaluate_run, plan, result_entries, run  # noqa: F401
from lib.sections.imbalance.settings import (  # noqa: F401
    PAPER_DATASETS,
    PAPER_EXCLUSION_INCREASE,
    PAPER_GAMMAS,
    PAPER_SMOTE_GAP,
    SETTINGS,
    ImbalanceSettings,
)

SECTION = Section(
    name=NAME, title="Class imbalance", paper="§3.2, Table 2 and Figure 3",
    settings=SETTINGS, plan=plan, run=run, claims=claims,
    tables={"table2": table2, "paper_table2": paper_table2,
            "table2_sentences": direction_sentences, "training_facts": training_facts,
            "figure3_sentences": figure3_sentences, "recipe_selection": recipe_selection},
    figures={"figure3": figure3, "error_vs_gamma": error_vs_gamma})
SECTIONS.add(SECTION.name, SECTION)


def settings_for(preset: str | Preset) -> ImbalanceSettings:
    """The §3.2 settings of a preset (by name or :class:`Preset`)."""
    return SECTION.settings_for(preset)
