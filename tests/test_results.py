"""The tidy result store."""

import pandas as pd
import pytest

from lib.results import COLUMNS, read_results, record_results


def row(**changes):
    base = dict(section="s", dataset="d", method="none", arm="scratch", strength=None, seed=0,
                metric="test_error", value=10.0)
    base.update(changes)
    return base


def test_rows_append_and_replace_by_identity(tmp_path):
    record_results([row(), row(arm="pretrained", value=9.0)], "smoke", tmp_path)
    record_results([row(value=8.5)], "smoke", tmp_path)  # same identity: replaces
    store = read_results("smoke", tmp_path)
    assert list(store.columns) == COLUMNS
    assert len(store) == 2
    values = store.set_index("arm").value
    assert values["scratch"] == 8.5 and values["pretrained"] == 9.0
    assert (store.preset == "smoke").all()


def test_one_store_per_preset(tmp_path):
    record_results([row()], "smoke", tmp_path)
    assert read_results("quick", tmp_path).empty
    assert (tmp_path / "smoke.csv").exists()


def test_missing_columns_are_an_error(tmp_path):
    with pytest.raises(ValueError, match="metric"):
        record_results([{"section": "s", "dataset": "d", "method": "m", "arm": "a",
                         "value": 1.0}], "smoke", tmp_path)


def test_unknown_preset_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="preset='huge'"):
        record_results([row()], "huge", tmp_path)


def test_store_is_plain_csv_readable_by_pandas(tmp_path):
    record_results([row(strength=0.4)], "smoke", tmp_path)
    frame = pd.read_csv(tmp_path / "smoke.csv")
    assert frame.strength.iloc[0] == 0.4
