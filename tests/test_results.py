"""The tidy result store (issue 13, item 5): typed axes, units, one build's
rows, replacement by identity, and no row lost to concurrent writers."""

import multiprocessing

import pandas as pd
import pytest

from lib.results import AXES, COLUMNS, IDENTITY, UNITS, read_results, record_results, tidy


def row(**changes):
    base = dict(section="s", dataset="d", method="none", arm="scratch", seed=0,
                metric="test_error", value=10.0, unit="%")
    base.update(changes)
    return base


# -- tidy --------------------------------------------------------------------------------

def test_tidy_has_every_column_in_order():
    frame = tidy([row()])
    assert list(frame.columns) == COLUMNS
    assert list(tidy([]).columns) == COLUMNS and tidy([]).empty


@pytest.mark.parametrize("column", ["strength", "detail", "temperature"])
def test_unknown_column_fails_naming_it(column):
    with pytest.raises(ValueError, match=rf"unknown columns \['{column}'\]"):
        tidy([row(**{column: 0.4})])


@pytest.mark.parametrize("column", ["unit", "metric", "value", "arm"])
def test_missing_required_value_fails_naming_it(column):
    bad = row()
    del bad[column]
    with pytest.raises(ValueError, match=rf"lack values for \['{column}'\]"):
        tidy([bad])
    with pytest.raises(ValueError, match=column):  # present but empty in one row
        tidy([row(), row(seed=1, **{column: None})])


def test_unit_must_be_known():
    with pytest.raises(ValueError, match="unit='percent' is not valid"):
        tidy([row(unit="percent")])
    assert set(tidy([row(unit=u) for u in UNITS]).unit) == set(UNITS)


def test_axes_are_typed():
    frame = tidy([row(corruption="0.4", epoch=3.0, steps="20", ood_set=None),
                  row(score="msp", gamma=0.2, class_index=7, eval_set="test")])
    for axis, kind in AXES.items():
        if kind is str:
            assert all(isinstance(v, str) for v in frame[axis]), axis  # missing → ""
        else:
            assert str(frame[axis].dtype) == ("Int64" if kind is int else "Float64"), axis
    first = frame.iloc[0]
    assert first.corruption == 0.4 and first.epoch == 3 and first.steps == 20
    assert first.ood_set == "" and pd.isna(first.gamma)
    assert frame.iloc[1].score == "msp" and frame.iloc[1].class_index == 7
    assert str(frame.seed.dtype) == "Int64" and frame.value.dtype == float


@pytest.mark.parametrize("axis,value", [("epoch", 2.5), ("steps", "twenty"),
                                        ("corruption", "strong"), ("gamma", "abc")])
def test_an_axis_of_the_wrong_type_fails_naming_it(axis, value):
    with pytest.raises(ValueError, match=f"axis '{axis}'"):
        tidy([row(**{axis: value})])


# -- the store ---------------------------------------------------------------------------

def test_rows_append_and_replace_by_identity(tmp_path):
    record_results([row(), row(arm="pretrained", value=9.0)], "smoke", tmp_path)
    record_results([row(value=8.5, build="b2")], "smoke", tmp_path)  # same identity: replaces
    store = read_results("smoke", tmp_path)
    assert list(store.columns) == COLUMNS
    assert len(store) == 2
    values = store.set_index("arm").value
    assert values["scratch"] == 8.5 and values["pretrained"] == 9.0
    assert (store.preset == "smoke").all()


@pytest.mark.parametrize("change", [dict(seed=1), dict(corruption=0.4), dict(ood_set="svhn"),
                                    dict(score="energy"), dict(calibration="temperature"),
                                    dict(dataset="cifar100"), dict(method="glc")])
def test_any_identity_column_keeps_rows_apart(tmp_path, change):
    record_results([row()], "smoke", tmp_path)
    record_results([row(**change)], "smoke", tmp_path)
    assert len(read_results("smoke", tmp_path)) == 2


def test_identity_spellings_from_csv_and_dicts_agree(tmp_path):
    """0, 0.0 and "0" are one corruption; None and "" one OOD set."""
    record_results([row(corruption=0, ood_set=None, value=1.0)], "smoke", tmp_path)
    record_results([row(corruption=0.0, ood_set="", value=2.0)], "smoke", tmp_path)
    record_results([row(corruption="0", value=3.0)], "smoke", tmp_path)
    store = read_results("smoke", tmp_path)
    assert len(store) == 1 and store.value.iloc[0] == 3.0


def test_read_results_of_one_build(tmp_path):
    record_results([row(build="a"), row(arm="pretrained", build="a")], "smoke", tmp_path)
    record_results([row(seed=1, build="b"), row(seed=1, ood_set="x", build="b")], "smoke",
                   tmp_path)
    assert len(read_results("smoke", tmp_path)) == 4
    a, b = read_results("smoke", tmp_path, build="a"), read_results("smoke", tmp_path, build="b")
    assert len(a) == 2 and set(a.build) == {"a"} and set(a.arm) == {"scratch", "pretrained"}
    assert len(b) == 2 and set(b.build) == {"b"} and set(b.seed) == {1}
    assert read_results("smoke", tmp_path, build="nope").empty
    assert list(read_results("smoke", tmp_path, build="nope").columns) == COLUMNS


def test_rows_read_back_equal_the_rows_recorded(tmp_path):
    """The store's round trip keeps the typed axes, the values to the last bit
    and the empty string axes empty."""
    new = record_results([row(value=1 / 3, corruption=0.1, epoch=2, build="a", n=500),
                          row(arm="pretrained", value=2 / 3, score="msp", build="a")],
                         "smoke", tmp_path)
    back = read_results("smoke", tmp_path, build="a")
    pd.testing.assert_frame_equal(back[IDENTITY + ["value", "unit"]],
                                  new[IDENTITY + ["value", "unit"]], check_dtype=False)
    assert back.value.tolist() == [1 / 3, 2 / 3]
    for axis, kind in AXES.items():
        if kind is str:
            assert all(isinstance(v, str) for v in back[axis]), axis


def test_one_store_per_preset(tmp_path):
    record_results([row()], "smoke", tmp_path)
    assert read_results("quick", tmp_path).empty
    assert (tmp_path / "smoke.csv").exists()


def test_unknown_preset_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="preset='huge'"):
        record_results([row()], "huge", tmp_path)


def test_store_is_plain_csv_readable_by_pandas(tmp_path):
    record_results([row(corruption=0.4)], "smoke", tmp_path)
    frame = pd.read_csv(tmp_path / "smoke.csv")
    assert frame.corruption.iloc[0] == 0.4 and frame.unit.iloc[0] == "%"


# -- concurrent writers ------------------------------------------------------------------

ROWS_PER_WRITER = 40


def _write_rows(writer: int, results_dir: str, start) -> None:
    """One writer process: waits for the other, then records its rows one call
    at a time (every call reads, merges and rewrites the store)."""
    start.wait(timeout=120)
    for i in range(ROWS_PER_WRITER):
        record_results([row(method=f"w{writer}", seed=i, value=float(i), build=f"w{writer}")],
                       "smoke", results_dir)


def test_two_processes_writing_at_once_lose_no_row(tmp_path):
    """Issue 13 item 5: without the lock, 42 of these 80 rows survived."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    writers = [context.Process(target=_write_rows, args=(w, str(tmp_path), start))
               for w in (0, 1)]
    for p in writers:
        p.start()
    for p in writers:
        p.join(timeout=300)
    assert [p.exitcode for p in writers] == [0, 0]
    store = read_results("smoke", tmp_path)
    assert len(store) == 2 * ROWS_PER_WRITER
    for w in (0, 1):
        mine = store[store.method == f"w{w}"]
        assert sorted(mine.seed.tolist()) == list(range(ROWS_PER_WRITER))
        assert (mine.value == mine.seed.astype(float)).all()
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))
