"""§3.3's claims, one per claim × target (:class:`lib.claims.Claim`):
adversarial pre-training beats adversarial training from scratch under PGD,
tuning only the last layer keeps much of it, and neither costs clean
accuracy; at the paper preset, the class-exclusion check."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lib.claims import Claim, arm_band, binomial_se, seed_count
from lib.presets import Preset
from lib.sections import exclusion
from lib.sections.adversarial.report import trustworthy
from lib.sections.adversarial.runs import METHODS
from lib.sections.adversarial.settings import (
    CHECK_METHOD,
    METRIC_NAMES,
    NAME,
    PAPER_CHECK_CHANGE,
    PAPER_NAMES,
    PAPER_TABLE3,
    AdversarialSettings,
)


@dataclass(frozen=True)
class _ClaimSpec:
    """One claim of §3.3: ``pretrained`` against ``scratch`` (Table 3 rows) on
    ``metric`` (eval set "pgd"), higher is better; the paper's differences per
    CIFAR dataset (points)."""

    key: str
    statement: str
    metric: str
    scratch: str
    pretrained: str
    magnitude_name: str
    paper: dict
    note: str = ""


def _claim_specs(s: AdversarialSettings) -> tuple:
    pgd = f"PGD-{s.test_steps}"
    return (
        _ClaimSpec("adversarial_pretraining", f"Adversarial pre-training and tuning beats "
                   f"adversarial training from scratch under {pgd}", "pgd_accuracy",
                   "adversarial", "adversarial_pretrained", f"gain in {pgd} accuracy (points)",
                   {"cifar10": 11.6, "cifar100": 9.2}),
        _ClaimSpec("adversarial_last_layer", f"Adversarially tuning only the last layer of the "
                   f"adversarially pre-trained network beats adversarial training from scratch "
                   f"under {pgd}", "pgd_accuracy", "adversarial", "last_layer",
                   f"gain in {pgd} accuracy (points)", {"cifar10": 0.8, "cifar100": 1.8}),
        _ClaimSpec("adversarial_clean_accuracy", "Adversarial pre-training and tuning costs no "
                   "clean accuracy against adversarial training from scratch (the paper: about "
                   "the same)", "clean_accuracy", "adversarial", "adversarial_pretrained",
                   "difference in clean accuracy (points)", {"cifar10": -0.2, "cifar100": 0.1},
                   note="The paper finds the two about the same: a difference inside the noise "
                        "band agrees with it, as does a gain; a resolved loss does not."),
    )


def _paper_text(spec: _ClaimSpec, dataset: str) -> tuple[str, str]:
    """The paper's values and magnitude for ``dataset`` (both CIFARs when it
    is not one of the paper's)."""
    metric = 0 if spec.metric == "clean_accuracy" else 1
    datasets = [dataset] if dataset in PAPER_TABLE3 else list(PAPER_TABLE3)

    def values(d):
        return (f"{PAPER_TABLE3[d][spec.scratch][metric]} → "
                f"{PAPER_TABLE3[d][spec.pretrained][metric]}")

    if dataset in PAPER_TABLE3:
        return values(dataset), f"{spec.paper[dataset]:+.1f} points"
    return ("; ".join(f"{PAPER_NAMES[d]} {values(d)}" for d in datasets),
            ", ".join(f"{spec.paper[d]:+.1f} ({PAPER_NAMES[d]})" for d in datasets) + " points")


def claims(rows, settings: AdversarialSettings, preset: Preset) -> list[Claim]:
    """§3.3's claims per target, the headline first: on the attacked test set
    (eval set "pgd"), the pre-trained row against adversarial training from
    scratch. The band: the seeds' spread with two or more seeds, else the
    binomial sampling error of each arm's accuracy on its ``n`` attacked
    images (:func:`lib.claims.arm_band`). Last, where the preset runs it, the
    class-exclusion check (:func:`exclusion_claim`)."""
    main = exclusion.main_rows(rows[rows.eval_set == "pgd"])
    notes = () if trustworthy(rows) else (
        "**An attack sanity check failed on this page: these accuracies are not trustworthy.**",)
    out = []
    for target in settings.targets:
        for spec in _claim_specs(settings):
            part = main[(main.dataset == target) & (main.metric == spec.metric)
                        & main.method.isin([spec.scratch, spec.pretrained])]
            per_seed = part.assign(arm=np.where(part.method == spec.scratch, "scratch",
                                                "pretrained"))[["arm", "seed", "value", "n"]]
            if set(per_seed.arm) != {"scratch", "pretrained"}:
                raise ValueError(f"claim {spec.key!r} on {target}: rows for {spec.scratch!r} and "
                                 f"{spec.pretrained!r} ({spec.metric}) are missing")
            means = per_seed.groupby("arm").value.mean()
            images = per_seed.groupby("arm").n.first()
            band, kind = arm_band(per_seed, lambda arm: binomial_se(means[arm], int(images[arm])))
            paper_values, paper_magnitude = _paper_text(spec, target)
            out.append(Claim(
                key=spec.key, section=NAME, dataset=target, statement=spec.statement,
                metric=METRIC_NAMES[spec.metric].format(steps=settings.test_steps), unit="%",
                scratch=float(means["scratch"]), pretrained=float(means["pretrained"]),
                better="higher", band=band,
                band_kind=kind, seeds=seed_count(per_seed),
                magnitude=float(means["pretrained"] - means["scratch"]),
                magnitude_name=spec.magnitude_name, paper_values=paper_values,
                paper_magnitude=paper_magnitude, preset=preset.name,
                paper_differences=tuple(
                    (PAPER_NAMES[d], spec.paper[d]) for d in
                    ([target] if target in PAPER_TABLE3 else PAPER_TABLE3) if d in spec.paper),
                labels=(METHODS[spec.scratch].title, METHODS[spec.pretrained].title),
                notes=tuple(n for n in (spec.note,) if n) + notes))
    checked = exclusion_claim(rows, settings, preset, notes)
    return out + ([checked] if checked is not None else [])


def exclusion_claim(rows, settings: AdversarialSettings, preset: Preset,
                    notes: tuple = ()) -> Claim | None:
    """§3.3's class-exclusion check: the ``ablation_architecture`` adversarially
    pre-trained without the CIFAR-10-related classes and tuned shows "only a
    1.04% decrease in adversarial accuracy" (read as points of PGD-20 accuracy)
    against the one pre-trained on the full source, a similarity claim
    (:func:`lib.sections.exclusion.similarity_claim`) scaled by the paper's gain
    from adversarial pre-training on CIFAR-10 (11.6 points); ``None`` without
    the check's rows."""
    if settings.ablation_source is None:
        return None
    label, target = settings.ablation_source[0], settings.ablation_target
    part = rows[(rows.eval_set == "pgd") & (rows.metric == "pgd_accuracy")
                & (rows.method == CHECK_METHOD) & (rows.dataset == target)
                & rows.source.isin(["", label])]
    per_seed = part.assign(arm=np.where(part.source == label, "pretrained", "scratch"))[
        ["arm", "seed", "value", "n"]]
    if set(per_seed.arm) != {"scratch", "pretrained"}:
        return None
    means = per_seed.groupby("arm").value.mean()
    images = per_seed.groupby("arm").n.first()
    band, kind = arm_band(per_seed, lambda arm: binomial_se(means[arm], int(images[arm])))
    pgd, architecture = f"PGD-{settings.test_steps}", settings.ablation_architecture
    gain = next(spec for spec in _claim_specs(settings)
                if spec.key == "adversarial_pretraining").paper["cifar10"]
    def epochs(n: int) -> str:
        return f"{n} epoch{'s' if n != 1 else ''}"

    recipe = (f"The paper gives no recipe for its two WRN-40-2: both are pre-trained and tuned "
              f"as Table 3's {settings.architecture} ({epochs(settings.source_recipe.epochs)} "
              f"against PGD-{settings.source_steps} on the source, "
              f"{epochs(settings.finetune.epochs)} of tuning at lr {settings.finetune.lr:g}), "
              f"and the tolerance is scaled by the paper's gain from adversarial pre-training "
              f"({gain:+.1f} points, WRN-28-10).")
    return exclusion.similarity_claim(
        key="adversarial_pgd_without_cifar10_classes", section=NAME, dataset=target,
        statement=f"Adversarial pre-training without the CIFAR-10-related classes gives a "
                  f"similar {pgd} accuracy ({architecture})",
        metric=f"{pgd} accuracy, {architecture} adversarially pre-trained and tuned", unit="%",
        full=float(means["scratch"]), excluded=float(means["pretrained"]), better="higher",
        band=band, band_kind=kind, seeds=seed_count(per_seed),
        paper_values=f"WRN-40-2, adversarial accuracy {PAPER_CHECK_CHANGE:+.2f} points "
                     "without the classes (its accuracies are not given)",
        paper_difference=PAPER_CHECK_CHANGE, paper_gain=gain, preset=preset.name,
        notes=(recipe, *notes))
