"""Integrity queries over the extracted ``raw`` tables (plain functions; no Dagster).

Each returns figures a person can act on: counts and a small sample of offending keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storeml_assets.io.pg_tables import qualified, quote
from storeml_assets.sources.catalog import Reference, SourceTable
from storeml_assets.sources.extract import Window, count_outside

RAW = "raw"
SAMPLE_SIZE = 10
#: Memory one check query may hash or sort in before spilling to disk. The key and reference checks
#: hash whole raw tables (11M interactions at the large scale); at Postgres's default of 4 MB those
#: hashes spill to temporary files.
CHECK_WORK_MEM = "256MB"


def use_check_memory(conn: Connection) -> None:
    """Give the checks of this transaction :data:`CHECK_WORK_MEM` (``set local``: it ends with the transaction)."""
    conn.execute(sa.text(f"set local work_mem = '{CHECK_WORK_MEM}'"))


@dataclass
class IntegrityResult:
    passed: bool
    description: str
    figures: dict[str, Any] = field(default_factory=dict)


def table_exists(conn: Connection, table: str, schema: str = RAW) -> bool:
    return bool(conn.execute(sa.text("select to_regclass(:name) is not null"), {"name": qualified(schema, table)}).scalar())


def row_count(conn: Connection, table: str, schema: str = RAW) -> int | None:
    if not table_exists(conn, table, schema):
        return None
    return int(conn.execute(sa.text(f"select count(*) from {qualified(schema, table)}")).scalar_one())


def check_min_rows(conn: Connection, table: SourceTable, minimum: int) -> IntegrityResult:
    count = row_count(conn, table.name)
    if count is None:
        return IntegrityResult(False, f"{RAW}.{table.name} does not exist yet", {"row_count": 0, "minimum": minimum})
    return IntegrityResult(
        count >= minimum,
        f"{count:,} rows (minimum {minimum:,})",
        {"row_count": count, "minimum": minimum},
    )


def check_primary_key(conn: Connection, table: SourceTable) -> IntegrityResult:
    if not table_exists(conn, table.name):
        return IntegrityResult(False, f"{RAW}.{table.name} does not exist yet")
    cols = ", ".join(quote(c) for c in table.primary_key)
    null_pred = " or ".join(f"{quote(c)} is null" for c in table.primary_key)
    # One grouping pass counts both: rows with a null key, and non-null keys held by several rows.
    keys = f"select {cols}, count(*) as n, bool_or({null_pred}) as null_key from {qualified(RAW, table.name)} group by {cols}"
    nulls, duplicates = (
        int(value)
        for value in conn.execute(
            sa.text(
                f"select coalesce(sum(n) filter (where null_key), 0), count(*) filter (where not null_key and n > 1) "
                f"from ({keys}) k"
            )
        ).one()
    )
    sample: list[list[Any]] = []
    if duplicates:
        dup_rows = conn.execute(
            sa.text(f"select {cols}, n from ({keys}) k where not null_key and n > 1 order by n desc limit {SAMPLE_SIZE}")
        ).fetchall()
        sample = [list(row[:-1]) for row in dup_rows]
    passed = nulls == 0 and duplicates == 0
    return IntegrityResult(
        passed,
        f"primary key ({', '.join(table.primary_key)}): {nulls} null, {duplicates} duplicated",
        {"null_keys": nulls, "duplicate_keys": duplicates, "sample": [str(s) for s in sample]},
    )


def check_reference(conn: Connection, table: SourceTable, ref: Reference) -> IntegrityResult:
    label = f"{table.name}.{ref.column} -> {ref.target_table}.{ref.target_column}"
    missing = [t for t in (table.name, ref.target_table) if not table_exists(conn, t)]
    if missing:
        return IntegrityResult(False, f"{label}: {', '.join(RAW + '.' + m for m in missing)} not extracted yet")
    child, parent = qualified(RAW, table.name), qualified(RAW, ref.target_table)
    col, tcol = quote(ref.column), quote(ref.target_column)
    # `not exists` ANDed with the rest: the planner makes it a hash anti-join (one pass over each table)
    orphan_sql = (
        f"from {child} c where c.{col} is not null "
        f"and not exists (select 1 from {parent} p where p.{tcol} = c.{col})"
    )
    violations = int(conn.execute(sa.text(f"select count(*) {orphan_sql}")).scalar_one())
    sample = []
    if violations:
        sample = [row[0] for row in conn.execute(sa.text(f"select distinct c.{col} {orphan_sql} limit {SAMPLE_SIZE}"))]
    nulls = 0
    if not ref.nullable:
        nulls = int(conn.execute(sa.text(f"select count(*) from {child} where {col} is null")).scalar_one())
    return IntegrityResult(
        violations == 0 and nulls == 0,
        f"{label}: {violations:,} unresolved, {nulls:,} null",
        {"violations": violations, "null_references": nulls, "sample": [str(s) for s in sample]},
    )


def check_reviews_purchased(conn: Connection) -> IntegrityResult:
    """Every review is of a product its author bought, in the order it names, before reviewing.

    Reviews whose order is not extracted yet (e.g. a backfill that starts mid-history) cannot be
    judged here and are counted apart; an order id that never resolves is the reference check's job.

    Set-based, so it scales with the tables: the (order, product) pairs bought and reviewed come
    from one hash join of order items with reviews, and each review is matched against them with
    a hash join (never a subquery per review, which without indexes scans the order items once per
    review).
    """
    needed = ["reviews", "orders", "order_items"]
    missing = [t for t in needed if not table_exists(conn, t)]
    if missing:
        return IntegrityResult(False, f"{', '.join(RAW + '.' + m for m in missing)} not extracted yet")
    reviews, orders, items = qualified(RAW, "reviews"), qualified(RAW, "orders"), qualified(RAW, "order_items")
    bought = (
        f"select distinct i.order_id, i.product_id from {items} i "
        f"join {reviews} rr on rr.order_id = i.order_id and rr.product_id = i.product_id"
    )
    judged = (
        f"from {reviews} r join {orders} o on o.order_id = r.order_id "
        f"left join ({bought}) b on b.order_id = r.order_id and b.product_id = r.product_id"
    )
    bad = "o.user_id <> r.user_id or o.ordered_at > r.created_at or o.status = 'payment_failed' or b.order_id is null"
    violations, checked, total = (
        int(value)
        for value in conn.execute(
            sa.text(f"select count(*) filter (where {bad}), count(*), (select count(*) from {reviews}) {judged}")
        ).one()
    )
    sample = []
    if violations:
        sample = [
            row[0]
            for row in conn.execute(sa.text(f"select r.review_id {judged} where {bad} order by 1 limit {SAMPLE_SIZE}"))
        ]
    return IntegrityResult(
        violations == 0,
        f"reviews not backed by a purchase of that product: {violations:,} of {checked:,} checked "
        f"({total - checked:,} await their order's extraction)",
        {"violations": violations, "checked_reviews": checked, "awaiting_order": total - checked,
         "sample": [str(s) for s in sample]},
    )


def check_rows_in_partition_range(url: str, table: SourceTable, window: Window) -> IntegrityResult:
    """Every source row of an event table is dated inside the daily partitions (else it never reaches raw).

    Reads the source database at ``url``: the rows in question are exactly those raw does not have.
    """
    outside = count_outside(url, table, window)
    label = f"{window.start:%Y-%m-%d} .. {window.end:%Y-%m-%d}"
    return IntegrityResult(
        outside.total == 0,
        f"{outside.total:,} source rows of {table.name} outside the partitions {label} are not extracted "
        f"({outside.before:,} before, {outside.after:,} after, {outside.undated:,} without an event time)",
        {
            "rows_outside_partitions": outside.total,
            "rows_before_first_partition": outside.before,
            "rows_after_last_partition": outside.after,
            "rows_without_event_time": outside.undated,
            "sample": list(outside.sample),
        },
    )
