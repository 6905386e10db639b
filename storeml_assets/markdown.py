"""The one Markdown-table builder for metadata people read in the UI (previews, rules, drift, gates)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def cell(value: Any, max_width: int | None = None) -> str:
    """``value`` as one table cell: ``None`` is empty, pipes escaped, newlines flattened, long text cut."""
    text = "" if value is None else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    if max_width is not None and len(text) > max_width:
        return text[: max_width - 3] + "..."
    return text


def table(
    rows: Iterable[Sequence[Any]],
    columns: Sequence[str],
    *,
    right: Iterable[str] = (),
    max_width: int | None = None,
) -> str:
    """A Markdown table of ``rows`` under ``columns``; the columns in ``right`` are right-aligned."""
    aligned = set(right)
    unknown = aligned - set(columns)
    if unknown:
        raise ValueError(f"right-aligned column {sorted(unknown)[0]!r} is not one of the table's columns")
    lines = [
        "| " + " | ".join(cell(c, max_width) for c in columns) + " |",
        "|" + "|".join("---:" if c in aligned else "---" for c in columns) + "|",
    ]
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"a row has {len(row)} cells for {len(columns)} columns: {list(row)!r}")
        lines.append("| " + " | ".join(cell(v, max_width) for v in row) + " |")
    return "\n".join(lines)
