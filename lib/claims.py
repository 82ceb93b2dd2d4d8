"""One judge per claim: the paper's headline claims as objects (issue: one
section protocol).

A :class:`Claim` holds, for one target dataset, the two arms' values (ours),
the paper's, the noise band of the difference, and the claim's magnitude in
the paper's own terms (a relative reduction, a ratio, points). Whether it
*holds* is decided here, once: the section page's sentence
(:meth:`Claim.sentence`) and the results overview's row
(:func:`overview_table`) both read the same object, so they cannot disagree.

Noise band: twice the standard error of the difference between the arms
(about a 95% interval). With two or more seeds per arm it is the seeds'
spread (:func:`seed_band`); with one seed it is the sampling error of the
test set (:func:`binomial_se` for an error rate, or the section's own
estimate, e.g. Hanley–McNeil for AUROC). A difference inside the band is
"not resolved at this scale", whichever way it points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lib.validation import check_choice

VERDICTS = ("same direction as the paper", "opposite to the paper", "not resolved at this scale")
# A similarity claim (the premise: "barely changes clean accuracy") is judged
# as an equivalence test: similar when the whole band lies within the tolerance.
SIMILARITY_VERDICTS = ("similar, as the paper says", "not similar, unlike the paper",
                       "not resolved at this scale")


@dataclass(frozen=True)
class Claim:
    """One claim of the paper, judged on one target dataset.

    ``scratch`` and ``pretrained`` are ours (in ``unit``); ``better`` says
    which way is better for the metric ("lower" or "higher"); ``band`` is the
    noise band of ``pretrained − scratch`` (same unit) and ``band_kind`` how it
    was obtained. ``magnitude`` is ours in the paper's terms
    (``magnitude_name``), beside ``paper_magnitude`` (the paper's, in words)."""

    key: str
    section: str
    dataset: str
    statement: str
    metric: str
    unit: str
    scratch: float
    pretrained: float
    better: str
    band: float
    band_kind: str
    seeds: int
    magnitude: float
    magnitude_name: str
    paper_values: str
    paper_magnitude: str
    preset: str = ""
    labels: tuple = ("from scratch", "pre-trained")
    notes: tuple = field(default=())
    tolerance: float | None = None  # set for a similarity claim (same unit as the values)
    # the paper's own ``pretrained − scratch`` per paper dataset, in ``unit``, where it gives
    # both numbers: ((dataset, difference), ...); both CIFARs' for a stand-in target
    paper_differences: tuple = ()

    def __post_init__(self):
        check_choice("better", self.better, ("lower", "higher"))
        if not (math.isfinite(self.scratch) and math.isfinite(self.pretrained)):
            raise ValueError(f"claim {self.key!r} on {self.dataset}: values must be finite, got "
                             f"{self.scratch} and {self.pretrained}")

    @property
    def difference(self) -> float:
        """``pretrained − scratch``, in ``unit``."""
        return self.pretrained - self.scratch

    @property
    def improvement(self) -> float:
        """The difference signed so that positive means pre-training is better."""
        return -self.difference if self.better == "lower" else self.difference

    @property
    def verdict(self) -> str:
        """A directional claim: resolved when the difference is outside the band.
        A similarity claim (``tolerance`` set): similar when ``|d| + band ≤
        tolerance``, not similar when ``|d| − band > tolerance``."""
        if self.tolerance is not None:
            gap = abs(self.difference)
            if gap + self.band <= self.tolerance:
                return SIMILARITY_VERDICTS[0]
            if gap - self.band > self.tolerance:
                return SIMILARITY_VERDICTS[1]
            return SIMILARITY_VERDICTS[2]
        if abs(self.improvement) <= self.band:
            return VERDICTS[2]
        return VERDICTS[0] if self.improvement > 0 else VERDICTS[1]

    @property
    def holds(self) -> bool | None:
        """``True``/``False`` when resolved, ``None`` when inside the band."""
        return {VERDICTS[0]: True, VERDICTS[1]: False, SIMILARITY_VERDICTS[0]: True,
                SIMILARITY_VERDICTS[1]: False}.get(self.verdict)

    def ours_text(self) -> str:
        u = "" if self.unit in ("", "ratio") else f" {self.unit}"
        return (f"{self.scratch:.2f} → {self.pretrained:.2f}{u} "
                f"(difference {self.difference:+.2f} ± {self.band:.2f})")

    def sentence(self) -> str:
        """The page's sentence for this claim."""
        text = (f"**{self.dataset}**, {self.metric}: {self.labels[0]} {self.scratch:.2f}, "
                f"{self.labels[1]} {self.pretrained:.2f} (difference {self.difference:+.2f}, "
                f"noise band ±{self.band:.2f}: {self.band_kind}); {self.magnitude_name} "
                f"{self.magnitude:.2f}, the paper: {self.paper_magnitude}. "
                f"Verdict: **{self.verdict}**.")
        return " ".join([text, *self.notes])

    def to_row(self) -> dict:
        return dict(claim=self.key, section=self.section, dataset=self.dataset,
                    statement=self.statement, metric=self.metric, unit=self.unit,
                    scratch=self.scratch, pretrained=self.pretrained,
                    difference=self.difference, band=self.band, band_kind=self.band_kind,
                    seeds=self.seeds, magnitude=self.magnitude,
                    magnitude_name=self.magnitude_name, paper=self.paper_values,
                    paper_magnitude=self.paper_magnitude, verdict=self.verdict,
                    preset=self.preset, better=self.better, tolerance=self.tolerance,
                    paper_differences=[list(p) for p in self.paper_differences])


def claims_frame(claims: list[Claim]) -> pd.DataFrame:
    """The claims as a table, one row per claim × dataset."""
    return pd.DataFrame([c.to_row() for c in claims])


def claims_json(claims: list[Claim]) -> str:
    """The claims' rows as JSON (glued by each page for the overview figure)."""
    import json

    return json.dumps([c.to_row() for c in claims], default=float)


def overview_figure(rows: list[dict]):
    """The results overview as one figure: per claim × dataset (rows of
    :meth:`Claim.to_row`), ours — the difference signed so that right means
    pre-training is better — with its noise band, beside the paper's
    difference per paper dataset, each claim on its own axis (units differ).
    Grey shading marks a similarity claim's tolerance. Colour: the verdict."""
    import textwrap

    import matplotlib.pyplot as plt

    colours = {VERDICTS[0]: "tab:green", SIMILARITY_VERDICTS[0]: "tab:green",
               VERDICTS[1]: "tab:red", SIMILARITY_VERDICTS[1]: "tab:red",
               VERDICTS[2]: "tab:grey", SIMILARITY_VERDICTS[2]: "tab:grey"}
    markers = ("D", "s", "^", "v")
    fig, axes = plt.subplots(len(rows), 1, figsize=(8.5, 0.62 * len(rows) + 0.9), squeeze=False)
    paper_names = sorted({name for r in rows for name, _ in r["paper_differences"]})
    for ax, row in zip(axes[:, 0], rows):
        sign = -1.0 if row["better"] == "lower" else 1.0
        ours = sign * row["difference"]
        ax.errorbar([ours], [0], xerr=[row["band"]], fmt="o", color=colours[row["verdict"]],
                    capsize=4, label="ours ± noise band")
        for name, difference in row["paper_differences"]:
            ax.plot([sign * difference], [0], markers[paper_names.index(name) % len(markers)],
                    mfc="none", color="black", label=f"paper, {name}")
        if row.get("tolerance") is not None:
            ax.axvspan(-row["tolerance"], row["tolerance"], color="0.9", zorder=0)
        ax.axvline(0, color="0.5", lw=0.8)
        span = max([abs(ours) + row["band"], row.get("tolerance") or 0,
                    *(abs(d) for _, d in row["paper_differences"])]) * 1.15 or 1.0
        ax.set(xlim=(-span, span), yticks=[])
        ax.tick_params(axis="x", labelsize=7, pad=1)
        seeds = f"{row['seeds']} seed{'s' if row['seeds'] != 1 else ''}"
        title = (f"{row['verdict'].upper()}: {row['statement']} — {row['dataset']} "
                 f"({row['unit']}, {seeds})")
        ax.set_title(textwrap.shorten(title, 150, placeholder=" …"), fontsize=7.5, loc="left",
                     pad=2)
    handles = {}
    for ax in axes[:, 0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    top = 1 - 0.35 / fig.get_figheight()
    fig.legend(handles.values(), handles.keys(), loc="upper center", ncol=len(handles),
               fontsize=7.5, frameon=False, bbox_to_anchor=(0.5, 1.0))
    fig.supxlabel("pre-trained minus from scratch, signed so that right is better for "
                  "pre-training (each claim in its own unit)", fontsize=8, y=0.01)
    fig.tight_layout(rect=(0, 0.3 / fig.get_figheight(), 1, top), h_pad=0.6)
    return fig


def overview_table(claims: list[Claim]) -> str:
    """The results overview's rows for ``claims`` (Markdown), one per claim ×
    dataset: the paper's values, ours with the band, the magnitude beside the
    paper's, and the verdict."""
    lines = ["| claim | dataset | paper | ours (preset) | magnitude: ours / paper | verdict |",
             "|---|---|---|---|---|---|"]
    for c in claims:
        cells = [c.statement, c.dataset, c.paper_values,
                 f"{c.metric}: {c.ours_text()} ({c.preset}, {c.seeds} seed"
                 f"{'s' if c.seeds != 1 else ''})",
                 f"{c.magnitude_name} {c.magnitude:.2f} / {c.paper_magnitude}", c.verdict]
        lines.append("| " + " | ".join(str(x).replace("|", "\\|") for x in cells) + " |")
    return "\n".join(lines) + "\n"


# -- noise bands ---------------------------------------------------------------------------

def binomial_se(percent: float, n: int) -> float:
    """Standard error (percentage points) of an error or accuracy of
    ``percent`` measured on ``n`` examples; kept half an example away from 0
    and 100 so that a perfect score still gets a non-zero band."""
    n = max(int(n), 1)
    p = min(max(float(percent) / 100, 0.5 / n), 1 - 0.5 / n)
    return 100 * math.sqrt(p * (1 - p) / n)


def weighted_binomial_se(weights, percents, n) -> float:
    """Standard error of ``Σ wᵢ·pᵢ`` where each ``pᵢ`` (percent) is measured on
    its own ``nᵢ`` test examples (independent errors): an area under an error
    curve, or a mean over imbalance ratios."""
    weights, percents = np.asarray(weights, float), np.asarray(percents, float)
    n = np.broadcast_to(np.asarray(n), percents.shape)
    return float(math.sqrt(sum((w * binomial_se(p, k)) ** 2
                               for w, p, k in zip(weights, percents, n))))


def difference_band(se_scratch: float, se_pretrained: float) -> float:
    """Twice the standard error of the difference of two independent estimates."""
    return 2 * math.hypot(se_scratch, se_pretrained)


def seed_band(scratch_values, pretrained_values) -> float:
    """The band from the seeds: twice the standard error of the difference of
    the two arms' means (sample standard deviation over seeds). Needs at least
    two seeds per arm."""
    a, b = np.asarray(scratch_values, float), np.asarray(pretrained_values, float)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("seed_band needs at least two seeds per arm; use a sampling band")
    return difference_band(a.std(ddof=1) / math.sqrt(len(a)), b.std(ddof=1) / math.sqrt(len(b)))


def hanley_mcneil_se(auroc_percent: float, n_in: int, n_out: int) -> float:
    """Standard error (points) of an AUROC (percent) from ``n_in`` negatives and
    ``n_out`` positives (Hanley & McNeil, 1982)."""
    a = min(max(float(auroc_percent) / 100, 1e-6), 1 - 1e-6)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_out - 1) * (q1 - a * a) + (n_in - 1) * (q2 - a * a)) / (n_in * n_out)
    return 100 * math.sqrt(max(var, 0.0))


def seed_count(per_seed: pd.DataFrame) -> int:
    """Seeds behind a two-arm claim: the fewer of the two arms' seed counts."""
    return int(per_seed.groupby("arm").seed.nunique().min())


def arm_band(per_seed: pd.DataFrame, sampling_se) -> tuple[float, str]:
    """The band of a two-arm claim from ``per_seed`` (columns ``arm``, ``seed``,
    ``value``; arms "scratch" and "pretrained"): the seed spread with two or
    more seeds per arm, else ``sampling_se(arm) -> standard error`` of each
    arm's single value. Returns (band, how it was obtained)."""
    seeds = seed_count(per_seed)
    if seeds >= 2:
        values = {arm: per_seed[per_seed.arm == arm].value for arm in ("scratch", "pretrained")}
        return seed_band(values["scratch"], values["pretrained"]), f"2 SE over {seeds} seeds"
    band = difference_band(sampling_se("scratch"), sampling_se("pretrained"))
    return band, "2 SE of the test-set sampling, one seed"
