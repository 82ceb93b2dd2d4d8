"""The authors' released networks, measured with this library's metrics
(issue 15, item 4): not a section of the paper but a page of the book that
follows the same protocol (:mod:`lib.sections.base`).

Nothing is trained (``plan`` is empty): each release of the preset's settings
that has been imported (``python -m lib.weights import FILE --as NAME``) is
scored by :func:`lib.released.evaluate_released` (clean error and NLL; MSP OOD
detection on the paper's OOD sets and raw calibration errors for a §4 model;
PGD-20 and AutoAttack for an adversarially tuned one), and its rows stand
beside the numbers published for it (:data:`lib.released.PUBLISHED`: the
paper's tables, the official training logs, RobustBench). A release that is
not imported, or whose data is missing, is named with where to get it.

Every release is a CIFAR-10, CIFAR-100, Tiny ImageNet or ImageNet 32×32 model,
so the smoke and quick presets (Fashion-MNIST, no data root) measure none; the
paper preset measures all of them, and its dry run the fixture weights that
``make book PRESET=paper DRY_RUN=1`` imports (random: their numbers mean
nothing).

Claims: per measured release with an official log, that this library's test
error of the file agrees with the log's (a similarity claim, tolerance two
binomial standard errors of the log's test set; band: the sampling error of
the images measured here, none when they are the log's whole test set); per
dataset with both a released baseline and a released tuned model, that the
pre-trained file has the lower test error (official logs: CIFAR-10 5.32% →
3.64%).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from lib.attacks.autoattack import ORIGINAL_ITERATIONS, SQUARE_QUERIES
from lib.claims import Claim, binomial_se, difference_band
from lib.experiments import SOURCE_TRACK_SIZE
from lib.released import (
    OURS,
    PUBLISHED,
    ReleasedSettings,
    comparison_table,
    evaluate_released,
    published_rows,
)
from lib.sections import SECTIONS
from lib.sections.adversarial import DRY_ADVERSARIAL_SIZE, DRY_ATTACK_STEPS
from lib.sections.base import Section, per_preset
from lib.weights import RELEASES, get_release, released_run

NAME = "released"
OOD_METRICS = ("auroc", "aupr", "fpr")


def release_arm(name: str) -> str:
    """The arm of a release's rows: ``"source"`` (a pre-trained source model),
    ``"scratch"`` (a baseline trained from scratch) or ``"pretrained"``
    (pre-trained, then tuned on its dataset)."""
    r = get_release(name)
    if r.source:
        return "source"
    return "scratch" if "-baseline-" in name else "pretrained"


# -- settings ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReleasedPageSettings:
    """The page at one preset: the ``releases`` it measures (names of
    :data:`lib.releases.RELEASES`); clean error on ``test_size`` test images
    (``None``: all), at most ``ood_samples`` images per OOD set, PGD-20 on
    ``attack_size`` and AutoAttack (``autoattack_iterations`` steps of APGD and
    FAB) on ``autoattack_size`` test images (``None``: all); ``note``: prose
    for the page (it changes no evaluation)."""

    releases: tuple
    test_size: int | None = None
    ood_samples: int = 2000
    attack_size: int | None = 1000
    autoattack_size: int | None = 1000
    autoattack_iterations: int = ORIGINAL_ITERATIONS
    pgd_steps: int = 20
    square_queries: int = SQUARE_QUERIES
    note: str = ""

    def __post_init__(self):
        for name in self.releases:
            get_release(name)  # an unknown name fails, listing the releases

    def measure(self) -> ReleasedSettings:
        """The evaluation settings of :func:`lib.released.evaluate_released`."""
        return ReleasedSettings(test_size=self.test_size, ood_samples=self.ood_samples,
                                attack_size=self.attack_size,
                                autoattack_size=self.autoattack_size,
                                autoattack_iterations=self.autoattack_iterations,
                                steps=self.pgd_steps, square_queries=self.square_queries)

    def dry_run_changes(self) -> dict:
        """At a dry run, the WRN-28-10s are attacked on 2 images with attacks
        shortened as on the adversarial page (PGD of 2 steps, AutoAttack of 1
        iteration and 10 Square queries): seconds each on a CPU."""
        return {"attack_size": DRY_ADVERSARIAL_SIZE, "autoattack_size": DRY_ADVERSARIAL_SIZE,
                "pgd_steps": DRY_ATTACK_STEPS, "autoattack_iterations": 1, "square_queries": 10}

    def describe(self) -> str:
        """The settings, one per line (deterministic: compared by nbval)."""
        m = self.measure()
        if not self.releases:
            return "\n".join(["releases     : none at this preset", f"note         : {self.note}"])
        return "\n".join([
            "releases     :", *[f"  {name}" for name in self.releases],
            f"test images  : {self.test_size or 'all'} per release (a source model: "
            + (f"its {SOURCE_TRACK_SIZE:,} held-out test images, as the pre-training page)"
               if self.test_size is None else
               f"at most {self.test_size} of its held-out test images)"),
            f"OOD images   : at most {self.ood_samples} per set of the paper's OOD sets "
            "(the OOD page's paper settings), MSP score",
            "calibration  : raw RMS and MAD calibration errors (no temperature tuned)",
            f"PGD          : {m.steps} steps of {m.step_size:.4g}, ε = 8/255, random start, "
            f"on {self.attack_size or 'all'} test images",
            f"AutoAttack   : standard version, {self.autoattack_iterations} iterations of "
            f"APGD and FAB, {self.square_queries:,} Square queries, on "
            f"{self.autoattack_size or 'all'} test images",
            *([f"note         : {self.note}"] if self.note else []),
        ])


_NONE = ("every released network is a CIFAR-10, CIFAR-100, Tiny ImageNet or ImageNet 32×32 "
         "model, and this preset reads no dataset from the data root; the paper preset "
         "measures all of them")
SETTINGS = per_preset(NAME, {
    "smoke": ReleasedPageSettings((), note=_NONE),
    "quick": ReleasedPageSettings((), note=_NONE),
    "paper": ReleasedPageSettings(tuple(RELEASES)),
})


def plan(preset) -> list:
    """Nothing is trained: every model of this page is an imported file."""
    return []


# -- run --------------------------------------------------------------------------------------

def _row(section: str, r: dict, settings: ReleasedSettings) -> dict:
    """A row of :func:`evaluate_released` (this library's) as a tidy result row."""
    name, metric = r["release"], r["metric"]
    axes = {"eval_set": "source test" if get_release(name).source else "test"}
    if metric in OOD_METRICS:
        axes.update(ood_set=r["ood_set"], score="msp")
    elif metric.endswith("_calibration_error"):
        axes["calibration"] = "raw"
    elif metric == "pgd20_accuracy":
        axes.update(eval_set="pgd", eps=settings.eps, steps=settings.steps)
    elif metric == "autoattack_accuracy":
        axes.update(eval_set="autoattack", eps=settings.eps)
    return dict(section=section, dataset=r["dataset"], arm=release_arm(name), method=name,
                metric=metric, value=r["value"], unit=r["unit"], n=r["n"],
                run_key=released_run(name).key(), **axes)


def run(session) -> list[dict]:
    """Measure every imported release of the preset (memoized evaluations)
    and return this library's rows (``method``: the release). What is not
    imported, or lacks its data, is printed: which file or dataset, where it
    was looked for and how to get it."""
    s = session.settings
    if not s.releases:
        print(f"This preset measures no released model: {s.note}.")
        return []
    measure = s.measure()
    result = evaluate_released(list(s.releases), runs_dir=session.runs_dir,
                               data_root=session.data_root, device=session.device,
                               settings=measure)
    for sentence in result.missing:
        print(f"not measured: {sentence}")
    return [_row(session.section.name, r, measure) for r in result.rows if r["source"] == OURS]


# -- tables -----------------------------------------------------------------------------------

def _none(settings, what: str) -> str:
    return f"This preset measures no released model, so {what}: {settings.note}."


def _ours(rows: pd.DataFrame) -> list[dict]:
    """Tidy rows back in :func:`lib.released.evaluate_released`'s shape."""
    return [dict(release=r.method, dataset=r.dataset, metric=r.metric, value=r.value,
                 unit=r.unit, n=r.n, ood_set=r.ood_set, source=OURS)
            for r in rows.itertuples()]


def _measured(rows: pd.DataFrame) -> set:
    return set(rows.method) if len(rows) else set()


def status(rows, settings, preset):
    """Every release: what it is, whether this execution measured it (at a
    preset that measures none, that the paper preset does), where it is
    published and the command that imports it."""
    measured = _measured(rows)

    def state(name) -> str:
        if not settings.releases:
            return f"no: the {preset.name} preset measures none (the paper preset does)"
        if name not in settings.releases:
            return f"no: not measured at the {preset.name} preset"
        return "yes" if name in measured else "no (the reason is printed under the run cell)"

    return pd.DataFrame([{
        "release": name, "what it is": get_release(name).what, "arm": release_arm(name),
        "measured here": state(name),
        "where it is published": f"{get_release(name).where} ({get_release(name).path})",
        "import with": f"python -m lib.weights import FILE --as {name}"}
        for name in settings.releases or RELEASES]).set_index("release")


def comparison(rows, settings, preset):
    """This library's numbers beside the paper's, the official logs' and
    RobustBench's (their columns named so), per release and metric (%; the
    OOD metrics as the mean over the paper's OOD sets)."""
    if not settings.releases:
        return _none(settings, "there is nothing to compare")
    ours = pd.DataFrame(_ours(rows), columns=["release", "metric", "value", "ood_set", "source"])
    parts = [part for name in settings.releases  # in the settings' order
             for part in (ours[ours.release == name], pd.DataFrame(published_rows(name)))]
    frame = pd.concat([part for part in parts if len(part)], ignore_index=True)
    if "ood_set" in frame:
        frame = frame[frame.ood_set.fillna("").isin(["", "mean"])].drop(columns="ood_set")
    table = comparison_table(frame.to_dict("records")).droplevel("ood_set")
    if OURS not in table.columns:
        table.insert(0, OURS, float("nan"))
    return table.round(2).rename(columns={OURS: "ours (this library)",
                                          "paper": "the paper's", "official log":
                                          "official log (theirs)",
                                          "RobustBench": "RobustBench (theirs)"})


def per_ood_set(rows, settings, preset):
    """This library's MSP AUROC / AUPR / FPR95 (%) of each §4 release per OOD set."""
    if not settings.releases:
        return _none(settings, "no OOD set is scored")
    ood = rows[rows.metric.isin(OOD_METRICS)] if len(rows) else rows
    if not len(ood):
        return "No released §4 model was measured in this execution, so no OOD set was scored."
    return ood.pivot_table(index=["method", "ood_set"], columns="metric", values="value",
                           sort=False).reindex(columns=list(OOD_METRICS)).round(1).rename_axis(
        index=["release", "OOD set"])


# -- claims -----------------------------------------------------------------------------------

def _value(rows, name, metric):
    chosen = rows[(rows.method == name) & (rows.metric == metric)]
    return None if chosen.empty else chosen.iloc[0]


def _log(name):
    return next((p for p in PUBLISHED.get(name, ())
                 if p.source == "official log" and p.metric == "test_error"), None)


def _reproduction(rows, name, preset) -> Claim | None:
    """Our test error of the file ``name`` against its official log's (the
    same file on the same test set): similar when the difference and its band
    lie within two binomial standard errors of the log's test set."""
    log, ours = _log(name), _value(rows, name, "test_error")
    if log is None or ours is None:
        return None
    n, total = int(ours.n), log.n
    # our images are a subset of the log's: the finite-population correction
    band = 2 * binomial_se(ours.value, n) * math.sqrt(max(0.0, (total - n) / (total - 1)))
    tolerance = 2 * binomial_se(log.value, total)
    return Claim(
        key=f"released_log_error[{name}]", section=NAME, dataset=get_release(name).dataset.name,
        statement=f"This library's test error of the released {name} agrees with its official "
                  "training log",
        metric=f"test error of {name}", unit="%", scratch=log.value,
        pretrained=float(ours.value),
        better="lower", band=band,
        band_kind=(f"2 SE of sampling {n} of the log's {total} test images" if n < total
                   else f"none: the log's {total} test images, all measured"),
        seeds=1, magnitude=float(ours.value) - log.value, magnitude_name="difference in points",
        paper_values=f"{log.value:.2f}% ({log.where})",
        paper_magnitude=f"the same file: 0, within ±{tolerance:.2f} points (2 SE of its test "
                        "set)",
        preset=preset.name, labels=("official log", "this library"), tolerance=tolerance)


def _pretraining(rows, dataset, preset) -> Claim | None:
    """The released tuned file's test error below the released baseline's."""
    arms = {}
    for name in RELEASES:
        r = get_release(name)
        value = _value(rows, name, "test_error")
        if (r.dataset.name == dataset and r.objective == "cross_entropy" and not r.source
                and value is not None):
            arms[release_arm(name)] = (name, value)
    if set(arms) != {"scratch", "pretrained"}:
        return None
    (base, s), (tuned, p) = arms["scratch"], arms["pretrained"]
    logs = [_log(base), _log(tuned)]
    return Claim(
        key="released_pretraining_error", section=NAME, dataset=dataset,
        statement="The released pre-trained model has a lower test error than the released "
                  "baseline (§4's models)",
        metric="test error", unit="%", scratch=float(s.value), pretrained=float(p.value),
        better="lower",
        band=difference_band(binomial_se(s.value, s.n), binomial_se(p.value, p.n)),
        band_kind="2 SE of the test-set sampling, one file each",
        seeds=1, magnitude=float(s.value - p.value), magnitude_name="reduction in points",
        paper_values=f"{logs[0].value:.2f} → {logs[1].value:.2f} (official logs)",
        paper_magnitude=f"{logs[0].value - logs[1].value:.2f} points (official logs)",
        preset=preset.name, labels=(f"baseline ({base})", f"tuned ({tuned})"))


def claims(rows, settings, preset) -> list[Claim]:
    """Per measured release with an official log, the reproduction claim; per
    dataset with both a baseline and a tuned release, the pre-training claim."""
    if not len(rows):
        return []
    out = [_reproduction(rows, name, preset) for name in settings.releases]
    datasets = dict.fromkeys(get_release(n).dataset.name for n in settings.releases)
    out += [_pretraining(rows, dataset, preset) for dataset in datasets]
    return [c for c in out if c is not None]


SECTION = Section(
    name=NAME, title="The released models, measured here",
    paper="the authors' released networks (§3.3 Table 3, §4 Tables 4 and 5, official logs)",
    settings=SETTINGS, plan=plan, run=run, claims=claims,
    tables={"status": status, "comparison": comparison, "per_ood_set": per_ood_set})
SECTIONS.add(SECTION.name, SECTION)

