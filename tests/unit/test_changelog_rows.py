"""ChangelogRows: what a batch changed is exactly what goes to the changelog, once per row."""

from __future__ import annotations

from types import SimpleNamespace

from streams.changelog import ChangelogRows


def _rows(initial: dict[str, object]) -> tuple[ChangelogRows, dict[str, object]]:
    data = dict(initial)
    return ChangelogRows(SimpleNamespace(data=data)), data


def test_each_changed_row_once_with_its_last_value_and_deletes_as_none() -> None:
    rows, data = _rows({"p0|a": [1, {}], "p1|b": [2, {}], "p2|c": [3, {}]})
    rows["p0|a"] = [5, {"t": 1}]
    rows["p0|a"] = [6, {"t": 2}]
    rows["p3|new"] = [1, {"t": 3}]
    del rows["p1|b"]
    assert rows.take_changes() == [("p0|a", [6, {"t": 2}]), ("p3|new", [1, {"t": 3}]),
                                   ("p1|b", None)]
    assert data == {"p0|a": [6, {"t": 2}], "p2|c": [3, {}], "p3|new": [1, {"t": 3}]}
    assert rows.take_changes() == []  # taken once


def test_reads_see_the_store_including_rows_restored_behind_its_back() -> None:
    rows, data = _rows({})
    data["p0|restored"] = [7, {}]  # Faust's recovery writes into the same dict
    assert rows.get("p0|restored") == [7, {}]
    assert "p0|restored" in rows and len(rows) == 1
    assert rows.take_changes() == []  # restored rows are not written back
