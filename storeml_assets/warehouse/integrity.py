"""Integrity queries over the warehouse tables (plain functions over a SQLAlchemy connection).

Each returns a :class:`Violations`: how many rows break the rule and a small sample of them.
A missing table is a violation too (``missing_table`` names it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storeml_assets.io.pg_tables import qualified, quote
from storeml_assets.sources.integrity import table_exists

WAREHOUSE = "warehouse"
SAMPLE_SIZE = 10


@dataclass
class Violations:
    """The outcome of one integrity rule."""

    rule: str
    count: int
    sample: list[dict[str, Any]] = field(default_factory=list)
    checked_rows: int = 0
    missing_table: str | None = None

    @property
    def passed(self) -> bool:
        return self.count == 0 and self.missing_table is None

    @property
    def description(self) -> str:
        if self.missing_table:
            return f"{self.rule}: table {self.missing_table} does not exist yet"
        return f"{self.rule}: {self.count:,} of {self.checked_rows:,} rows violate it"


def _plain(value: Any) -> Any:
    """A JSON-friendly value for metadata samples."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _first_missing(conn: Connection, schema: str, *tables: str) -> str | None:
    for table in tables:
        if not table_exists(conn, table, schema):
            return f"{schema}.{table}"
    return None


def _count(conn: Connection, schema: str, table: str) -> int:
    return int(conn.execute(sa.text(f"select count(*) from {qualified(schema, table)}")).scalar_one())


def _violations(
    conn: Connection,
    rule: str,
    schema: str,
    table: str,
    from_where: str,
    columns: list[str],
    order_by: str,
    count_sql: str = "count(*)",
) -> Violations:
    """Count the violating rows (``count_sql`` over ``from_where``) and fetch a sample of ``columns`` (all trusted SQL)."""
    count = int(conn.execute(sa.text(f"select {count_sql} {from_where}")).scalar_one())
    sample: list[dict[str, Any]] = []
    if count:
        result = conn.execute(
            sa.text(f"select {', '.join(columns)} {from_where} order by {order_by} limit :n"),
            {"n": SAMPLE_SIZE},
        )
        names = list(result.keys())
        sample = [{k: _plain(v) for k, v in zip(names, row, strict=True)} for row in result.fetchall()]
    return Violations(rule, count, sample, _count(conn, schema, table))


def check_line_totals(conn: Connection, schema: str = WAREHOUSE, table: str = "sales") -> Violations:
    """Sales lines whose ``line_total`` is not ``quantity x unit_price`` to the cent (or has a null).

    A line whose price is unknown (``unit_price`` and ``line_total`` both null, as real storefronts have)
    is not a violation: it has no total to get wrong (the source check ``real_data_shapes`` counts it).
    """
    rule = "line_total = quantity x unit_price"
    missing = _first_missing(conn, schema, table)
    if missing:
        return Violations(rule, 0, missing_table=missing)
    s = qualified(schema, table)
    from_where = (
        f"from {s} where not (unit_price is null and line_total is null) and (quantity is null or unit_price is null "
        "or line_total is null "
        "or round(cast(line_total as numeric), 2) <> round(cast(quantity as numeric) * cast(unit_price as numeric), 2))"
    )
    columns = [
        "sale_id",
        "quantity",
        "unit_price",
        "line_total",
        "round(cast(quantity as numeric) * cast(unit_price as numeric), 2) as expected",
    ]
    return _violations(conn, rule, schema, table, from_where, columns, "sale_id")


def check_transaction_amounts(
    conn: Connection, schema: str = WAREHOUSE, transactions: str = "transactions", sales: str = "sales"
) -> Violations:
    """Transactions whose ``transaction_amount`` differs from the sum of their sales lines (to the cent).

    A transaction without any sales line must have amount 0.
    """
    rule = "transaction_amount = sum of its sales lines"
    missing = _first_missing(conn, schema, transactions, sales)
    if missing:
        return Violations(rule, 0, missing_table=missing)
    t, s = qualified(schema, transactions), qualified(schema, sales)
    from_where = (
        f"from {t} t left join (select transaction_id, sum(cast(line_total as numeric)) as lines_total "
        f"from {s} group by transaction_id) l on l.transaction_id = t.transaction_id "
        "where t.transaction_amount is null "
        "or round(cast(t.transaction_amount as numeric), 2) <> round(coalesce(l.lines_total, 0), 2)"
    )
    columns = [
        "t.transaction_id",
        "t.transaction_amount",
        "round(coalesce(l.lines_total, 0), 2) as lines_total",
    ]
    return _violations(conn, rule, schema, transactions, from_where, columns, "t.transaction_id")


def check_reference(
    conn: Connection,
    table: str,
    column: str,
    target_table: str,
    target_column: str,
    key: str,
    schema: str = WAREHOUSE,
    *,
    nullable: bool = False,
) -> Violations:
    """Rows of ``table`` whose ``column`` is null or matches no ``target_table.target_column``.

    ``nullable``: a null is no violation (a guest order's transaction has no customer).
    The sample holds the row's ``key`` and the unresolved value.
    """
    rule = f"{table}.{column} -> {target_table}.{target_column}"
    missing = _first_missing(conn, schema, table, target_table)
    if missing:
        return Violations(rule, 0, missing_table=missing)
    src, dst = qualified(schema, table), qualified(schema, target_table)
    col, tcol, k = quote(column), quote(target_column), quote(key)
    # an anti-join (left join, no match): one hash join over both tables, which scales with them; a
    # null key matches nothing, so it is counted too. (`x is null or not exists (...)` would be a
    # subquery per row: the planner cannot make an anti-join of a `not exists` under an `or`.)
    # Only unmatched rows survive the filter, so a duplicated target key never repeats a row.
    from_where = f"from {src} s left join {dst} d on d.{tcol} = s.{col} where d.{tcol} is null"
    if nullable:
        from_where += f" and s.{col} is not null"
    return _violations(conn, rule, schema, table, from_where, [f"s.{k}", f"s.{col}"], f"s.{k}")


def check_primary_key(conn: Connection, table: str, key: str, schema: str = WAREHOUSE) -> Violations:
    """Rows whose ``key`` is null or shared with another row; the sample lists the keys and counts."""
    rule = f"{table}.{key} unique and not null"
    missing = _first_missing(conn, schema, table)
    if missing:
        return Violations(rule, 0, missing_table=missing)
    src, k = qualified(schema, table), quote(key)
    from_where = (
        f"from (select {k} as key, count(*) as n from {src} group by {k} "
        "having count(*) > 1 or bool_or(" + k + " is null)) d"
    )
    return _violations(conn, rule, schema, table, from_where, ["key", "n"], "n desc, key", "coalesce(sum(n), 0)")
