"""Robustness to adversarial perturbations (paper §3.3, Table 3).

The adversary is untargeted L∞ PGD (Madry et al. 2018; :func:`lib.attacks.pgd_linf`)
in pixel space [0, 1]. Table 3 has four rows per target, the :data:`METHODS`
of this section, each a run of the run cache:

* ``normal``: normal (clean) training from scratch — the section's standard
  from-scratch run (:func:`lib.experiments.scratch_run`, shared with the
  pre-training page at the smoke and quick presets);
* ``adversarial``: adversarial training from scratch (Madry et al.): in every
  batch PGD examples replace the clean ones (objective ``"adversarial"``);
* ``adversarial_pretrained``: adversarial *pre-training* on the source against
  an untargeted adversary (:func:`adversarial_source_run`), then adversarial
  fine-tuning of the whole network on the target with a new classifier (paper:
  5 epochs at lr 0.001);
* ``last_layer``: the same adversarially pre-trained network, of which only the
  new last linear layer is tuned, adversarially (``Recipe(tune="last_layer")``).

Each row is scored on the same test images by clean accuracy and accuracy
under PGD-20 (in eval mode, :mod:`lib.evaluation.robustness`), and on a
smaller subset by AutoAttack (Croce & Hein 2020), a stronger check that PGD
does not overstate robustness. Sanity curves (accuracy against ε and against
the number of PGD steps) check that the attack behaves as an attack should.
Every evaluation is an :class:`Evaluation`, memoized by the run, the attacked
images' spec and only the attack parameters that change its result.

**The official PGD start** (issue 27): the official attack (hendrycks/pre-training,
``robustness/adversarial/attacks.py``) adds its random start to the clean batch in
place, so its ε-ball is centred on the noisy start and the perturbation from the
clean image reaches up to 2ε; Table 3 was trained and tested with it. Our default
keeps the paper's threat model, the ball around the clean image
(:func:`lib.attacks.pgd_linf`, ``start="paper"``). The rows of
``official_start_rows`` are also scored by PGD-``test_steps`` with
``start="official"`` on the same images and from the same noise (metric
``pgd_accuracy_official_start``), and :func:`pgd_start_table` sets the two
accuracies side by side. ``train_start="official"`` trains the adversarial rows
against the official attack as well (other run keys; not the default anywhere).

The class-exclusion check (§3.3, paper preset only; :mod:`lib.sections.exclusion`):
"as a quick check", two WRN-40-2 are adversarially pre-trained, one on the
full source and one without the CIFAR-10-related classes, then adversarially
tuned on CIFAR-10 as Table 3's pre-trained row and scored under PGD-20
(:func:`check_runs`, method :data:`CHECK_METHOD`, the ``source`` axis naming
the variant). The paper: "only a 1.04% decrease in adversarial accuracy".

Settings per preset (:data:`SETTINGS`): the paper's WRN-28-10 on CIFAR-10/100
with ε = 8/255 at ``paper`` (official code: github.com/hendrycks/pre-training,
``robustness/adversarial/``: Downsampled ImageNet pre-training 100 epochs at
lr 0.1, batch 256, PGD-10 with step 2/255, no dropout; tuning 5 epochs at lr
0.001, batch 128); a small WRN on Fashion-MNIST with ε = 0.1 at ``quick`` and
``smoke``. Training PGD takes ``k`` steps of 2.5·ε/k (Madry et al.'s rule; the
paper's 10 steps of 2/255 at ε = 8/255), the test attack 20 steps of ε/4.

The page is a package, one module per job: :mod:`~lib.sections.adversarial.settings`
(the settings per preset and the paper's numbers), :mod:`~lib.sections.adversarial.runs`
(the runs, their evaluations and the rows), :mod:`~lib.sections.adversarial.report`
(tables and figures) and :mod:`~lib.sections.adversarial.claims`; the memoized
attack evaluations are :mod:`lib.evaluation.attacks`. Their names are
re-exported here.
"""

from __future__ import annotations

from lib.evaluation.attacks import (  # noqa: F401
    Evaluation,
    autoattack_evaluation,
    clean_accuracy_evaluation,
    evaluate,
    pgd_evaluation,
    torchattacks_version,
)
from lib.evaluation.attacks import torchattacks_version as _torchattacks_version  # noqa: F401
from lib.sections import SECTIONS
from lib.sections.adversarial.claims import (  # noqa: F401
    claims,
    exclusion_claim,
)
from lib.sections.adversarial.report import (  # noqa: F401
    autoattack_table,
    check_table_rows,
    cost,
    paper_table3,
    pgd_start_table,
    recipe_selection,
    sanity_checks,
    sanity_curves,
    sanity_verdicts,
    source_history,
    table3,
    trustworthy,
)
from lib.sections.adversarial.runs import (  # noqa: F401
    METHODS,
    OFFICIAL_START_METRIC,
    adversarial_source_run,
    attack_test_data,
    cells,
    check_evaluations,
    check_runs,
    cost_entries,
    history_entries,
    official_start_evaluations,
    plan,
    robustness_evaluations,
    row_run,
    run,
    sanity_evaluations,
    table3_runs,
)
from lib.sections.adversarial.settings import (  # noqa: F401
    CHECK_METHOD,
    DRY_ADVERSARIAL_SIZE,
    DRY_ATTACK_STEPS,
    METRIC_NAMES,
    NAME,
    NEAR_ZERO,
    PAPER_CHECK_CHANGE,
    PAPER_NAMES,
    PAPER_TABLE3,
    ROBUSTBENCH_AUTOATTACK_CIFAR10,
    ROWS,
    SANITY_CURVES,
    SETTINGS,
    SOURCE_METHOD,
    SOURCE_TITLE,
    AdversarialSettings,
)
from lib.sections.base import Section

SECTION = Section(
    name=NAME, title="Adversarial robustness", paper="§3.3, Table 3", settings=SETTINGS,
    plan=plan, run=run, claims=claims,
    tables={"table3": table3, "paper_table3": paper_table3, "autoattack": autoattack_table,
            "source_history": source_history, "sanity_checks": sanity_checks, "cost": cost,
            "recipe_selection": recipe_selection, "pgd_start": pgd_start_table},
    figures={"sanity_curves": sanity_curves},
)
SECTIONS.add(SECTION.name, SECTION)

__all__ = ["METHODS", "PAPER_TABLE3", "ROBUSTBENCH_AUTOATTACK_CIFAR10", "SECTION", "SETTINGS",
           "AdversarialSettings", "Evaluation", "OFFICIAL_START_METRIC", "adversarial_source_run",
           "attack_test_data", "cells", "evaluate", "official_start_evaluations",
           "pgd_start_table", "plan", "robustness_evaluations", "row_run", "run",
           "sanity_evaluations", "sanity_verdicts", "table3_runs"]
