"""The one Markdown-table builder: cells escaped and cut, alignment, and clear errors."""

from __future__ import annotations

import pytest

from storeml_assets.markdown import table


def test_cells_are_escaped_flattened_and_cut() -> None:
    text = table([("a|b", None, "line\nbreak", "x" * 70)], ["name", "empty", "text", "long"], max_width=60)
    header, rule, row = text.split("\n")
    assert header == "| name | empty | text | long |"
    assert rule == "|---|---|---|---|"
    assert row == "| a\\|b |  | line break | " + "x" * 57 + "... |"


def test_right_aligned_columns() -> None:
    text = table([("x", 0.5)], ["column", "score"], right=["score"])
    assert text.split("\n")[1] == "|---|---:|"


def test_bad_rows_and_columns_are_named() -> None:
    with pytest.raises(ValueError, match="a row has 1 cells for 2 columns"):
        table([("only",)], ["a", "b"])
    with pytest.raises(ValueError, match="'lift' is not one of"):
        table([], ["a"], right=["lift"])
