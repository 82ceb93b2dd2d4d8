"""One judge per claim (issue 13, item 4): the :class:`Claim` verdict, its
noise bands, and the overview's one row per claim × dataset."""

import math

import numpy as np
import pandas as pd
import pytest

from lib.claims import (
    VERDICTS,
    Claim,
    arm_band,
    binomial_se,
    claims_frame,
    difference_band,
    hanley_mcneil_se,
    overview_table,
    seed_band,
    weighted_binomial_se,
)

SAME, OPPOSITE, UNRESOLVED = VERDICTS


def claim(scratch=10.0, pretrained=8.0, better="lower", band=1.0, **changes):
    fields = dict(key="k", section="s", dataset="cifar10", statement="pre-training helps",
                  metric="error", unit="%", scratch=scratch, pretrained=pretrained,
                  better=better, band=band, band_kind="2 SE of the test-set sampling, one seed",
                  seeds=1, magnitude=20.0, magnitude_name="relative reduction (%)",
                  paper_values="28.7 → 15.9", paper_magnitude="about 30%", preset="smoke")
    fields.update(changes)
    return Claim(**fields)


# -- verdicts ----------------------------------------------------------------------------

@pytest.mark.parametrize("better,scratch,pretrained,verdict,holds", [
    ("lower", 10.0, 8.0, SAME, True),         # error went down: the paper's direction
    ("lower", 10.0, 12.0, OPPOSITE, False),
    ("lower", 10.0, 9.5, UNRESOLVED, None),   # inside the band, whichever way
    ("lower", 10.0, 10.5, UNRESOLVED, None),
    ("lower", 10.0, 9.0, UNRESOLVED, None),   # exactly on the band edge: not resolved
    ("higher", 80.0, 85.0, SAME, True),       # AUROC went up
    ("higher", 80.0, 75.0, OPPOSITE, False),
    ("higher", 80.0, 80.4, UNRESOLVED, None),
])
def test_verdict(better, scratch, pretrained, verdict, holds):
    c = claim(scratch, pretrained, better)
    assert c.verdict == verdict and c.holds is holds
    assert c.difference == pytest.approx(pretrained - scratch)
    assert c.improvement == pytest.approx((scratch - pretrained) if better == "lower"
                                          else (pretrained - scratch))
    assert f"Verdict: **{verdict}**" in c.sentence()


def test_a_wider_band_turns_a_verdict_unresolved():
    assert claim(band=1.0).verdict == SAME and claim(band=3.0).verdict == UNRESOLVED


def test_claim_checks_its_fields():
    with pytest.raises(ValueError, match="better='smaller'"):
        claim(better="smaller")
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="finite"):
            claim(pretrained=bad)


def test_sentence_and_row_read_the_same_numbers():
    c = claim(notes=("One seed: the band is the sampling error.",))
    text = c.sentence()
    for part in ("**cifar10**", "10.00", "8.00", "-2.00", "±1.00", "about 30%", "20.00",
                 "One seed: the band is the sampling error."):
        assert part in text
    row = c.to_row()
    assert row["verdict"] == c.verdict and row["difference"] == c.difference
    assert row["band"] == 1.0 and row["dataset"] == "cifar10" and row["claim"] == "k"


# -- the overview ------------------------------------------------------------------------

def test_overview_has_one_row_per_claim_and_dataset():
    claims = [claim(key=k, dataset=d, statement=f"claim {k}")
              for k in ("a", "b") for d in ("cifar10", "cifar100")]
    lines = overview_table(claims).strip().splitlines()
    assert len(lines) == 2 + 4
    body = lines[2:]
    for k in ("a", "b"):
        for d in ("cifar10", "cifar100"):
            assert sum(f"| claim {k} | {d} |" in line for line in body) == 1
    frame = claims_frame(claims)
    assert len(frame) == 4 and not frame.duplicated(["claim", "dataset"]).any()
    assert set(frame.verdict) <= set(VERDICTS)


def test_overview_escapes_pipes_and_counts_seeds():
    table = overview_table([claim(statement="a | b", seeds=3)])
    assert "a \\| b" in table and "3 seeds" in table
    assert "1 seed)" in overview_table([claim()])


# -- noise bands -------------------------------------------------------------------------

def test_binomial_se():
    assert binomial_se(20.0, 400) == pytest.approx(100 * math.sqrt(0.2 * 0.8 / 400))  # 2.0
    assert binomial_se(50.0, 100) == pytest.approx(5.0)
    assert binomial_se(80.0, 400) == pytest.approx(binomial_se(20.0, 400))  # error ↔ accuracy
    # a perfect score keeps a band of half an example
    assert binomial_se(0.0, 100) == pytest.approx(100 * math.sqrt(0.005 * 0.995 / 100))
    assert binomial_se(100.0, 100) == pytest.approx(binomial_se(0.0, 100))
    assert binomial_se(0.0, 100) > 0


def test_binomial_se_matches_a_simulation():
    rng = np.random.default_rng(0)
    errors = 100 * rng.binomial(500, 0.3, size=20000) / 500
    assert errors.std() == pytest.approx(binomial_se(30.0, 500), rel=0.03)


def test_weighted_binomial_se_against_a_direct_computation():
    weights, percents, n = [0.05, 0.1, 0.1, 0.05], [10.0, 20.0, 40.0, 70.0], [100, 200, 400, 50]
    direct = math.sqrt(sum((w * 100 * math.sqrt(p / 100 * (1 - p / 100) / k)) ** 2
                           for w, p, k in zip(weights, percents, n)))
    assert weighted_binomial_se(weights, percents, n) == pytest.approx(direct)
    # one n for every point broadcasts
    same_n = math.sqrt(sum((w * binomial_se(p, 300)) ** 2 for w, p in zip(weights, percents)))
    assert weighted_binomial_se(weights, percents, 300) == pytest.approx(same_n)


def test_weighted_binomial_se_matches_a_simulation():
    """The trapezoid area under an error curve measured on independent test sets."""
    rng = np.random.default_rng(1)
    strengths = np.linspace(0, 1, 6)
    true = np.array([10, 15, 25, 40, 60, 85.0])
    weights = np.diff(strengths, prepend=0, append=0)
    weights = (weights[:-1] + weights[1:]) / 2  # the trapezoid's weight of each point
    draws = 100 * rng.binomial(400, true / 100, size=(20000, len(true))) / 400
    areas = draws @ weights
    assert areas.std() == pytest.approx(weighted_binomial_se(weights, true, 400), rel=0.03)


def test_difference_band():
    assert difference_band(3.0, 4.0) == pytest.approx(10.0)


def test_seed_band():
    a, b = [10.0, 12.0, 11.0], [8.0, 8.5, 9.5]
    expected = 2 * math.sqrt(np.var(a, ddof=1) / 3 + np.var(b, ddof=1) / 3)
    assert seed_band(a, b) == pytest.approx(expected)
    with pytest.raises(ValueError, match="two seeds"):
        seed_band([10.0], [8.0, 9.0])


def _auroc(negatives, positives) -> np.ndarray:
    """AUROC (fraction) of each row: P(a positive scores above a negative)."""
    from scipy.stats import rankdata

    scores = np.concatenate([negatives, positives], axis=1)
    ranks = rankdata(scores, axis=1)[:, negatives.shape[1]:]
    n_out, n_in = positives.shape[1], negatives.shape[1]
    return (ranks.sum(1) - n_out * (n_out + 1) / 2) / (n_in * n_out)


@pytest.mark.parametrize("auroc,n_in,n_out", [(0.8, 300, 100), (0.95, 100, 400), (0.6, 200, 200)])
def test_hanley_mcneil_se_matches_a_simulation(auroc, n_in, n_out):
    """Exponential scores, for which Hanley & McNeil's Q1 = A/(2−A) and
    Q2 = 2A²/(1+A) are exact: negatives ~ Exp(1), positives ~ Exp(b) with
    b = 1/A − 1, so that P(positive > negative) = A."""
    rng = np.random.default_rng(2)
    b = 1 / auroc - 1
    negatives = rng.exponential(1.0, size=(4000, n_in))
    positives = rng.exponential(1 / b, size=(4000, n_out))
    simulated = 100 * _auroc(negatives, positives)
    assert simulated.mean() == pytest.approx(100 * auroc, abs=0.3)
    assert simulated.std() == pytest.approx(hanley_mcneil_se(100 * auroc, n_in, n_out), rel=0.06)


def test_hanley_mcneil_se_published_formula():
    """Hanley & McNeil (1982), eq. (2) with their exponential Q1, Q2; their worked
    example (58 normal and 51 abnormal CT images, A = 0.893) has SE 0.032."""
    a, n_n, n_a = 0.9, 50, 40
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    by_hand = math.sqrt((a * (1 - a) + (n_a - 1) * (q1 - a * a) + (n_n - 1) * (q2 - a * a))
                        / (n_a * n_n))
    assert hanley_mcneil_se(90.0, n_n, n_a) == pytest.approx(100 * by_hand)
    assert hanley_mcneil_se(89.3, 58, 51) == pytest.approx(3.2, abs=0.06)


def per_seed(scratch, pretrained):
    return pd.DataFrame([dict(arm="scratch", seed=i, value=v) for i, v in enumerate(scratch)]
                        + [dict(arm="pretrained", seed=i, value=v)
                           for i, v in enumerate(pretrained)])


def test_arm_band_uses_seeds_when_there_are_two_or_more():
    calls = []
    band, kind = arm_band(per_seed([10.0, 12.0], [8.0, 9.0]), lambda arm: calls.append(arm))
    assert band == pytest.approx(seed_band([10.0, 12.0], [8.0, 9.0]))
    assert kind == "2 SE over 2 seeds" and calls == []


def test_arm_band_uses_sampling_with_one_seed():
    se = {"scratch": 1.5, "pretrained": 2.0}
    band, kind = arm_band(per_seed([10.0], [8.0]), se.__getitem__)
    assert band == pytest.approx(difference_band(1.5, 2.0)) == pytest.approx(5.0)
    assert "sampling" in kind and "one seed" in kind
    # one arm with a single seed is enough to fall back to sampling
    band, kind = arm_band(per_seed([10.0, 11.0], [8.0]), se.__getitem__)
    assert "sampling" in kind


# -- the overview figure (issue 17, item 3) -----------------------------------------------

def glued_notebook(path, claims):
    """An executed notebook holding what ``Session.claims`` glues (MyST-NB's format)."""
    import json

    from IPython.core.formatters import format_display_data

    from lib.claims import claims_json

    bundle, _ = format_display_data(claims_json(claims))
    prefix = "application/papermill.record/"
    output = {"output_type": "display_data", "data": {prefix + k: v for k, v in bundle.items()},
              "metadata": {"scrapbook": {"name": "claims_data", "mime_prefix": prefix}}}
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "outputs": [output]}]}))


def test_overview_figure_shows_ours_with_its_band_beside_the_papers():
    import matplotlib

    matplotlib.use("Agg")
    from lib.claims import overview_figure

    rows = [claim(paper_differences=(("CIFAR-10", -12.8), ("CIFAR-100", -10.0))).to_row(),
            claim(scratch=70.0, pretrained=71.0, better="higher", band=2.0, key="auroc").to_row(),
            claim(scratch=5.0, pretrained=5.2, band=0.3, tolerance=1.0, key="premise").to_row()]
    fig = overview_figure(rows)
    first, second, third = fig.axes[:3]
    ours = first.lines[0]  # lower is better: right is an improvement of 2 points
    assert ours.get_xdata()[0] == pytest.approx(2.0)
    (bar,) = [c for c in first.collections]
    (segment,) = bar.get_segments()
    assert segment[:, 0] == pytest.approx([1.0, 3.0])  # ± the band
    paper = sorted(line.get_xdata()[0] for line in first.lines if line.get_marker() in "Ds")
    assert paper == pytest.approx([10.0, 12.8])
    assert second.lines[0].get_xdata()[0] == pytest.approx(1.0)  # higher is better
    assert second.get_title(loc="left").startswith("NOT RESOLVED")
    assert third.patches  # the similarity claim's tolerance is shaded


def test_the_book_draws_the_glued_claims(tmp_path):
    from lib.book import CLAIMS_FIGURE, claims_figure, glued_claims

    executed, out = tmp_path / "executed", tmp_path / "generated"
    executed.mkdir()
    assert "No section page has been executed" in claims_figure(executed, out)
    glued_notebook(executed / "00_pretraining.ipynb", [claim(key="premise")])
    glued_notebook(executed / "04_ood_detection.ipynb", [claim(key="a"), claim(key="b")])
    assert [r["claim"] for r in glued_claims(executed)] == ["premise", "a", "b"]
    text = claims_figure(executed, out)
    assert f"generated/{CLAIMS_FIGURE}" in text and "smoke preset" in text
    assert (out / CLAIMS_FIGURE).read_bytes()[:4] == b"\x89PNG"
