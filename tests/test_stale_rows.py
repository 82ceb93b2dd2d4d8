"""A page shows only the rows its own execution produced (issue 13, item 5).

For every section at the smoke preset: execute it, keep everything the page
shows (each table, each figure's data, the claims), plant in the result store
the rows an older build could have left (another seed, another build, a
dropped OOD set, a method no longer run, other settings, shifted values),
execute it again in a new session, and check that nothing shown changed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from lib import notebook
from lib.claims import claims_frame, overview_table
from lib.results import AXES, IDENTITY, read_results, record_results
from lib.sections import section_names

pytestmark = pytest.mark.slow


def _table_text(out) -> str:
    if isinstance(out, str):
        return out
    if hasattr(out, "data") and isinstance(out.data, str):  # IPython Markdown
        return out.data
    if hasattr(out, "data") and isinstance(out.data, pd.DataFrame):  # a Styler
        out = out.data
    if isinstance(out, pd.DataFrame):
        return out.to_csv()
    raise TypeError(f"a table is a DataFrame or Markdown, got {type(out).__name__}")


def _figure_data(fig) -> list:
    """What a reader sees of a figure: per axes its texts, line and bar data,
    scatter offsets and images."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    out = [fig._suptitle.get_text() if fig._suptitle else ""]
    for ax in fig.axes:
        out.append([ax.get_title(), ax.get_xlabel(), ax.get_ylabel(),
                    [t.get_text() for t in ax.get_xticklabels()],
                    [t.get_text() for t in ax.texts],
                    [line.get_xydata().tolist() for line in ax.lines],
                    [p.get_bbox().bounds for p in ax.patches if isinstance(p, Rectangle)],
                    [np.asarray(c.get_offsets()).tolist() for c in ax.collections],
                    [np.asarray(i.get_array()).tolist() for i in ax.images]])
        legend = ax.get_legend()
        out.append([t.get_text() for t in legend.get_texts()] if legend else [])
    plt.close(fig)
    return out


def shown(session, figures: bool = True) -> dict:
    """Everything the section's page shows, drawn from this execution's rows."""
    section = session.section
    return {
        "tables": {name: _table_text(session.table(name)) for name in section.tables},
        "figures": {name: _figure_data(section.figure(name, session.results, session.preset,
                                                      data_root=session.data_root))
                    for name in (section.figures if figures else ())},
        "claims": claims_frame(session.judged()).to_csv(),
        "overview": overview_table(session.judged()),
    }


def stale_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows that older builds of the same section could have left in the store."""
    def variant(build, **changes):
        frame = rows.copy()
        for column, change in changes.items():
            frame[column] = change(frame) if callable(change) else change
        frame["build"] = build
        return frame

    shifted = lambda f: f.value + 7.25  # noqa: E731
    parts = [
        variant("old-seed", seed=lambda f: f.seed.fillna(0) + 1000, value=shifted),
        variant("old-build", value=shifted),  # same identity: replaced by the new execution
        variant("old-ood-set", ood_set="a dropped ood set", value=shifted),
        variant("old-method", method="a method no longer run", value=shifted),
        variant("old-target", dataset="a dropped target", value=shifted),
        variant("old-score", score="a dropped score", value=shifted),
    ]
    for axis, kind in AXES.items():  # other settings: each numeric axis moved
        if kind is not str and rows[axis].notna().any():
            present = rows[rows[axis].notna()]
            parts.append(variant(f"old-{axis}", value=shifted).loc[present.index]
                         .assign(**{axis: present[axis] + (7 if kind is int else 0.0625)}))
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("name", [n for n in section_names() if n != "released"])  # no smoke rows
def test_stale_rows_change_nothing_shown(name, smoke_env):
    first = notebook.start(name, "smoke", None, "cpu")
    first.run()
    before = shown(first)
    assert not first.results.duplicated(IDENTITY).any()

    planted = stale_rows(first.results)
    record_results(planted, "smoke")
    assert len(read_results("smoke")) > len(first.results)  # the store now holds them

    # the planted rows have teeth: a page drawn from the whole store would change
    polluted = dataclasses.replace(first, _rows=read_results("smoke"), _claims=None)
    try:
        assert shown(polluted, figures=False) != {**before, "figures": {}}, \
            f"{name}: the stale rows would change nothing"
    except (ValueError, TypeError, KeyError):
        pass  # or the page would not even draw (the TypeError in notebook 00)

    second = notebook.start(name, "smoke", None, "cpu")
    assert second.build != first.build
    second.run()
    after = shown(second)

    for kind in ("tables", "figures"):
        assert after[kind].keys() == before[kind].keys()
        for item in before[kind]:
            assert after[kind][item] == before[kind][item], f"{name}: {kind[:-1]} {item!r} changed"
    assert after["claims"] == before["claims"], f"{name}: the claims changed"
    assert after["overview"] == before["overview"]
    columns = [*IDENTITY, "value", "unit", "n"]
    pd.testing.assert_frame_equal(second.results[columns], first.results[columns])


def test_read_results_of_a_build_is_exactly_that_execution(smoke_env):
    name = section_names()[0]
    first = notebook.start(name, "smoke", None, "cpu")
    first.run()
    planted = stale_rows(first.results)
    record_results(planted, "smoke")
    second = notebook.start(name, "smoke", None, "cpu")
    second.run()
    assert len(read_results("smoke")) > len(second.results)
    columns = [*IDENTITY, "value", "unit"]
    mine = read_results("smoke", build=second.build)
    assert set(mine.build) == {second.build}
    pd.testing.assert_frame_equal(mine[columns], second.results[columns], check_dtype=False)
    old_seed = read_results("smoke", build="old-seed")
    assert set(old_seed.build) == {"old-seed"}
    pd.testing.assert_frame_equal(old_seed[columns],
                                  planted[planted.build == "old-seed"][columns]
                                  .reset_index(drop=True), check_dtype=False)
