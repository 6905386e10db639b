"""The serving API's database access: a lazy bounded pool, retries on connection errors only, the reads.

The pool opens no connection until a request needs one, holds at most ``pool_size``, waits at
most ``pool_timeout_seconds`` for a free one, connects with a timeout and runs every statement
under ``statement_timeout``. A connection failure becomes :class:`DatabaseUnavailableError`
(the API answers 503 with ``Retry-After``); any other error is a bug and propagates.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from storeml_assets.db.urls import first_line, sqlalchemy_url
from storeml_assets.serving.families import IdSource

T = TypeVar("T")

RETRY_AFTER_SECONDS = 5


class DatabaseUnavailableError(RuntimeError):
    """The ``storeml`` database cannot be reached; the message is one redacted line."""


class TableMissingError(LookupError):
    """A table the API reads has not been materialized yet; the message names it."""


def _missing_table(exc: sa.exc.SQLAlchemyError) -> bool:
    return isinstance(exc, sa.exc.ProgrammingError) and getattr(exc.orig, "pgcode", None) == "42P01"


def create_pool(url: str, *, pool_size: int, pool_timeout: float, connect_timeout: int,
                statement_timeout_ms: int) -> Engine:
    """A lazy, bounded SQLAlchemy pool (no connection is opened here)."""
    return sa.create_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=pool_timeout,
        pool_pre_ping=True,
        pool_recycle=300,
        connect_args={
            "connect_timeout": connect_timeout,
            "application_name": "storeml-serve",
            "options": f"-c statement_timeout={int(statement_timeout_ms)}",
        },
    )


def _is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, sa.exc.TimeoutError):  # pool exhausted
        return True
    return isinstance(exc, sa.exc.DBAPIError) and (
        exc.connection_invalidated or isinstance(exc, sa.exc.OperationalError) and "statement timeout" not in str(exc)
    )


def with_connection(engine: Engine, work: Callable[[Connection], T], *, attempts: int = 3,
                    backoff: float = 0.1) -> T:
    """Run ``work`` in one transaction; connection errors are retried with backoff, then 503."""
    for attempt in range(attempts):
        try:
            with engine.begin() as conn:
                return work(conn)
        except sa.exc.SQLAlchemyError as exc:
            if _missing_table(exc):
                cause = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc
                raise TableMissingError(f"table not materialized yet: {first_line(cause)}") from None
            if not _is_connection_error(exc):
                raise
            if attempt == attempts - 1:
                raise DatabaseUnavailableError(f"database unavailable: {first_line(exc.orig or exc)}"
                                               if isinstance(exc, sa.exc.DBAPIError)
                                               else f"database unavailable: {first_line(exc)}") from None
            time.sleep(backoff * (2**attempt))
    raise AssertionError("unreachable")


def _table(schema: str, table: str) -> str:
    prep = sa.sql.compiler.IdentifierPreparer(sa.dialects.postgresql.dialect())
    return f"{prep.quote(schema)}.{prep.quote(table)}"


def latest_features(conn: Connection, source: IdSource, ids: Sequence[int], columns: Sequence[str]) -> dict[int, dict[str, Any]]:
    """The newest feature row of each id found (``{id: {column: value}}``)."""
    prep = sa.sql.compiler.IdentifierPreparer(sa.dialects.postgresql.dialect())
    id_col, order_col = prep.quote(source.id_column), prep.quote(source.order_column)
    selected = ", ".join(prep.quote(c) for c in columns)
    query = sa.text(
        f"select distinct on ({id_col}) {id_col} as __id, {selected} from {_table(source.schema, source.table)} "
        f"where {id_col} = any(:ids) order by {id_col}, {order_col} desc"
    )
    rows = conn.execute(query, {"ids": list(ids)}).mappings()
    return {int(row["__id"]): {c: row[c] for c in columns} for row in rows}


def products(conn: Connection, *, category: str | None, limit: int, offset: int) -> list[dict[str, Any]]:
    query = ("select product_sku, product_name, category, brand, price from warehouse.products "
             + ("where category = :category " if category else "") + "order by product_sku limit :limit offset :offset")
    params = {"category": category, "limit": limit, "offset": offset}
    return [dict(r) for r in conn.execute(sa.text(query), params).mappings()]


def top_products(conn: Connection, *, limit: int) -> list[dict[str, Any]]:
    query = sa.text(
        "select s.product_sku, p.product_name, p.category, sum(s.quantity) as units, sum(s.line_total) as revenue, "
        "count(distinct s.transaction_id) as transactions from warehouse.sales s "
        "left join warehouse.products p using (product_sku) group by s.product_sku, p.product_name, p.category "
        "order by revenue desc nulls last, s.product_sku limit :limit"
    )
    return [dict(r) for r in conn.execute(query, {"limit": limit}).mappings()]


def bundle_rules(conn: Connection, *, antecedent: str | None, min_lift: float, min_confidence: float,
                 limit: int) -> list[dict[str, Any]]:
    query = (
        "select antecedents, consequents, antecedent_names, consequent_names, support, confidence, lift "
        "from warehouse.bundle_rules where lift >= :min_lift and confidence >= :min_confidence "
        + ("and :antecedent = any(antecedents) " if antecedent else "")
        + "order by lift desc, confidence desc, id limit :limit"
    )
    params = {"antecedent": antecedent, "min_lift": min_lift, "min_confidence": min_confidence, "limit": limit}
    return [dict(r) for r in conn.execute(sa.text(query), params).mappings()]
