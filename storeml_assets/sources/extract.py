"""Read one storefront source table (or one time window of it) as Arrow, read-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from storeml_assets.io.arrow_types import normalize_result
from storeml_assets.io.pg_tables import adbc_connection, quote
from storeml_assets.sources.catalog import CATALOG, SourceTable


@dataclass(frozen=True)
class Window:
    """A half-open time window ``[start, end)`` on a table's event time."""

    start: datetime
    end: datetime


def extract_query(table: SourceTable, window: Window | None) -> tuple[str, list[object]]:
    """The SELECT for ``table`` (restricted to ``window`` on its event time).

    Identifiers are quoted; the window's bounds are bound parameters ($1, $2), never inlined.
    """
    if table.event_time_from is not None:
        parent_name, join_column = table.event_time_from
        parent = CATALOG[parent_name]
        assert parent.event_time is not None
        query = (
            f"select c.*, p.{quote(parent.event_time)} from {quote(table.name)} c "
            f"join {quote(parent.name)} p using ({quote(join_column)})"
        )
        time_column: str | None = f"p.{quote(parent.event_time)}"
        key_prefix = "c."
    else:
        query = f"select * from {quote(table.name)}"
        time_column = quote(table.event_time) if table.event_time else None
        key_prefix = ""
    params: list[object] = []
    if window is not None:
        if time_column is None:
            raise ValueError(f"source table {table.name!r} has no event time; it cannot be read by window")
        query += f" where {time_column} >= $1 and {time_column} < $2"
        params = [window.start, window.end]
    query += " order by " + ", ".join(key_prefix + quote(column) for column in table.primary_key)
    return query, params


def extract(url: str, table: SourceTable, window: Window | None = None) -> pa.Table:
    """Rows of ``table`` from its source database at ``url``, in a read-only transaction."""
    query, params = extract_query(table, window)
    with adbc_connection(url, application_name="storeml-extract") as conn:
        with conn.cursor() as cur:
            cur.execute("set transaction read only")
            cur.execute(query, params or None)
            data = cur.fetch_arrow_table()
        conn.rollback()
    return normalize_result(data)
