"""Read one storefront source table (or one time window of it) as Arrow, read-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from storeml_assets.io.arrow_types import normalize_result
from storeml_assets.io.pg_tables import adbc_connection, quote
from storeml_assets.sources.catalog import CATALOG, SourceTable


@dataclass(frozen=True)
class Window:
    """A half-open time window ``[start, end)`` on a table's event time."""

    start: datetime
    end: datetime


def _source(table: SourceTable, *, keep_orphans: bool = False) -> tuple[str, str | None, str]:
    """``(from clause, event-time expression, key prefix)`` of ``table``.

    A child table takes its parent's event time through a join; ``keep_orphans`` makes it a left
    join, so children whose parent row is missing show with a null event time.
    """
    if table.event_time_from is not None:
        parent_name, join_column = table.event_time_from
        parent = CATALOG[parent_name]
        assert parent.event_time is not None
        join = "left join" if keep_orphans else "join"
        source = f"{quote(table.name)} c {join} {quote(parent.name)} p using ({quote(join_column)})"
        return source, f"p.{quote(parent.event_time)}", "c."
    return quote(table.name), quote(table.event_time) if table.event_time else None, ""


def extract_query(table: SourceTable, window: Window | None) -> tuple[str, list[object]]:
    """The SELECT for ``table`` (restricted to ``window`` on its event time).

    Identifiers are quoted; the window's bounds are bound parameters ($1, $2), never inlined.
    """
    source, time_column, key_prefix = _source(table)
    if table.event_time_from is not None:
        parent = CATALOG[table.event_time_from[0]]
        assert parent.event_time is not None
        query = f"select c.*, p.{quote(parent.event_time)} from {source}"
    else:
        query = f"select * from {source}"
    params: list[object] = []
    if window is not None:
        if time_column is None:
            raise ValueError(f"source table {table.name!r} has no event time; it cannot be read by window")
        query += f" where {time_column} >= $1 and {time_column} < $2"
        params = [window.start, window.end]
    query += " order by " + ", ".join(key_prefix + quote(column) for column in table.primary_key)
    return query, params


@dataclass(frozen=True)
class OutsideRows:
    """Source rows no daily partition can hold: dated before or after the range, or undated."""

    before: int
    after: int
    undated: int
    #: primary keys (as text) of up to ``SAMPLE_SIZE`` of them
    sample: tuple[str, ...]

    @property
    def total(self) -> int:
        return self.before + self.after + self.undated


SAMPLE_SIZE = 10


def outside_rows_queries(table: SourceTable) -> tuple[str, str]:
    """The count and sample queries for rows of ``table`` outside ``[$1, $2)`` (or with no event time)."""
    source, time_column, key_prefix = _source(table, keep_orphans=True)
    if time_column is None:
        raise ValueError(f"source table {table.name!r} has no event time; it has no partition range")
    outside = f"{time_column} is null or {time_column} < $1 or {time_column} >= $2"
    counts = (
        f"select count(*) filter (where {time_column} < $1), count(*) filter (where {time_column} >= $2), "
        f"count(*) filter (where {time_column} is null) from {source} where {outside}"
    )
    keys = [key_prefix + quote(column) for column in table.primary_key]
    key_text = keys[0] + "::text" if len(keys) == 1 else "concat_ws(', ', " + ", ".join(keys) + ")"
    sample = f"select {key_text} from {source} where {outside} order by {', '.join(keys)} limit {SAMPLE_SIZE}"
    return counts, sample


def _exists(cur: Any, table: SourceTable) -> bool:
    """Whether the storefront has ``table`` (and, for a child table, its parent) on the cursor's database."""
    names = [table.name] + ([table.event_time_from[0]] if table.event_time_from else [])
    for name in names:
        cur.execute("select to_regclass($1) is not null", [quote(name)])
        row = cur.fetchone()
        if not (row and row[0]):
            return False
    return True


def count_outside(url: str, table: SourceTable, window: Window) -> OutsideRows:
    """How many rows of ``table`` at ``url`` lie outside ``window`` (the partitions' range), with a sample.

    A table the storefront does not have (external mode) has no rows outside.
    """
    counts_sql, sample_sql = outside_rows_queries(table)
    params = [window.start, window.end]
    with adbc_connection(url, application_name="storeml-extract") as conn:
        with conn.cursor() as cur:
            cur.execute("set transaction read only")
            if _external() and not _exists(cur, table):
                return OutsideRows(0, 0, 0, ())
            cur.execute(counts_sql, params)
            row = cur.fetchone()
            before, after, undated = (int(v or 0) for v in (row or (0, 0, 0)))
            sample: tuple[str, ...] = ()
            if before or after or undated:
                cur.execute(sample_sql, params)
                sample = tuple(str(r[0]) for r in cur.fetchall())
        conn.rollback()
    return OutsideRows(before, after, undated, sample)


def _external() -> bool:
    from storeml_assets.settings import get_settings

    return get_settings().source_mode == "external"


def extract(url: str, table: SourceTable, window: Window | None = None) -> pa.Table:
    """Rows of ``table`` from its source database at ``url``, in a read-only transaction.

    In external mode (a real storefront, :mod:`storeml_assets.sources.external`): an absent table reads as
    no rows of the contract's columns, missing contract columns as nulls, and text ``*_id`` columns as
    stable integers.
    """
    external = _external()
    query, params = extract_query(table, window)
    with adbc_connection(url, application_name="storeml-extract") as conn:
        with conn.cursor() as cur:
            cur.execute("set transaction read only")
            if external and not _exists(cur, table):
                conn.rollback()
                from storeml_assets.sources.external import empty_table

                return empty_table(table)
            cur.execute(query, params or None)
            data = cur.fetch_arrow_table()
        conn.rollback()
    data = normalize_result(data)
    if external:
        from storeml_assets.sources.external import add_missing_columns, integer_ids

        data, _ = add_missing_columns(table, data)
        data, _ = integer_ids(table, data)
    return data
