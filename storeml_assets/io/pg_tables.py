"""Bulk table writes and reads over ADBC (COPY binary), with atomic replace and slice rewrite.

Plain functions over Arrow tables; nothing here knows about Dagster. Identifiers are always
quoted with SQLAlchemy's Postgres quoting, values always bound as parameters.

* :func:`replace_table` stages the data in a new table inside one transaction, then takes an
  advisory lock for the table name, locks the old table ``ACCESS EXCLUSIVE``, drops it and
  renames the staging table. Readers see the old or the new table, never a partial one: a
  reader that started on the old table finishes first (the lock waits for it), later readers
  wait for the short swap and then resolve the name to the new table. A table that carries
  indexes, constraints or dependent views (e.g. one created by a migration) is instead
  refilled in place — ``truncate`` + ``insert ... select`` from the staging table, same
  transaction — so its definition survives.
* :func:`write_slices` deletes the rows of a partition slice and appends the new rows in one
  transaction, creating the table on first write under the table's advisory lock; writers of
  the same slice take turns on a per-slice advisory lock (no duplicates), writers of different
  slices run in parallel.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import hashlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import adbc_driver_postgresql.dbapi as adbc
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.dialects.postgresql.base import PGDialect

from storeml_assets.db.urls import first_line, host_of, normalize_scheme
from storeml_assets.io.arrow_types import (
    FrameTypeError,
    PgColumn,
    check_identifier,
    conform_to_table,
    needs_sql_cast,
    normalize_result,
    pg_type_for,
)

_PREPARER = PGDialect().identifier_preparer
LogFn = Callable[[str], None]


class TableNotFoundError(LookupError):
    """The table an input asks for does not exist."""


class PostgresIOError(RuntimeError):
    """A database error during an IO manager read or write, redacted to one line."""


def quote(name: str) -> str:
    """A Postgres identifier, always double-quoted (embedded quotes doubled)."""
    return _PREPARER.quote_identifier(name)


def qualified(schema: str, table: str) -> str:
    return f"{quote(schema)}.{quote(table)}"


@dataclass(frozen=True)
class TimeSlice:
    """Rows where ``expr`` is in [start, end)."""

    expr: str
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class ValuesSlice:
    """Rows where ``expr`` (compared as text) is one of ``values``."""

    expr: str
    values: tuple[str, ...]


Slice = TimeSlice | ValuesSlice


@dataclass(frozen=True)
class WriteResult:
    rows: int
    seconds: float
    created: bool
    mode: str  # "swap" | "refill" | "slice"


# ---------------------------------------------------------------------------------------------
# connections
# ---------------------------------------------------------------------------------------------
def adbc_uri(url: str) -> str:
    """The libpq URI ADBC expects (no SQLAlchemy driver suffix)."""
    return normalize_scheme(url)


#: Idle ADBC connections kept per URL for reuse. Opening one costs 0.1-0.5 s (the driver reads the
#: server's whole type catalog), more than reading or writing a small table: a run that moves many
#: tables, or one partition range table by table, would spend most of its time connecting.
IDLE_CONNECTIONS_PER_URL = 4
#: An idle connection older than this is closed instead of reused.
IDLE_SECONDS = 60.0


class _IdleConnections:
    """Per-process, thread-safe store of idle ADBC connections by URL (a forked child starts empty)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[str, list[tuple[adbc.Connection, float]]] = {}
        self._pid = os.getpid()

    def _mine(self) -> None:
        if self._pid != os.getpid():  # a forked child: the parent's connections are not this process's
            self._idle, self._pid = {}, os.getpid()

    def take(self, uri: str) -> adbc.Connection | None:
        now = time.monotonic()
        with self._lock:
            self._mine()
            stack = self._idle.get(uri, [])
            stale = [conn for conn, since in stack if now - since > IDLE_SECONDS]
            stack[:] = [(conn, since) for conn, since in stack if now - since <= IDLE_SECONDS]
            taken = stack.pop()[0] if stack else None
        for conn in stale:
            _close_quietly(conn)
        return taken

    def give(self, uri: str, conn: adbc.Connection) -> None:
        with self._lock:
            self._mine()
            stack = self._idle.setdefault(uri, [])
            if len(stack) < IDLE_CONNECTIONS_PER_URL:
                stack.append((conn, time.monotonic()))
                return
        _close_quietly(conn)

    def close_all(self) -> None:
        with self._lock:
            self._mine()
            idle, self._idle = self._idle, {}
        for stack in idle.values():
            for conn, _ in stack:
                _close_quietly(conn)


def _close_quietly(conn: adbc.Connection) -> None:
    # closing a connection whose server is gone fails; there is nothing left to release then
    with contextlib.suppress(Exception):
        conn.close()


_IDLE = _IdleConnections()
atexit.register(_IDLE.close_all)


def _session_ready(conn: adbc.Connection) -> bool:
    """Reset a reused connection's session (settings back to defaults, time zone UTC); False if it is dead."""
    try:
        with conn.cursor() as cur:
            cur.execute("reset all")
            cur.execute("set time zone 'UTC'")
        conn.commit()
        return True
    except Exception:
        _close_quietly(conn)
        return False


@contextlib.contextmanager
def adbc_connection(url: str, application_name: str = "storeml-io") -> Iterator[adbc.Connection]:
    """An ADBC connection in a transaction (session time zone UTC), rolled back on error.

    Uncommitted work is rolled back when the block ends. Connections are reused within a process
    (see :data:`IDLE_CONNECTIONS_PER_URL`): session settings are reset before each reuse, and a
    connection that saw an error is closed, never reused.
    """
    uri = adbc_uri(url)
    sep = "&" if "?" in uri else "?"
    uri = f"{uri}{sep}application_name={application_name}"
    conn = _IDLE.take(uri)
    if conn is not None and not _session_ready(conn):
        conn = None
    if conn is None:
        try:
            conn = adbc.connect(uri)
        except Exception as exc:
            raise PostgresIOError(f"cannot reach database at {host_of(url)}: {first_line(exc)}") from None
        if not _session_ready(conn):
            raise PostgresIOError(f"cannot reach database at {host_of(url)}: the new connection failed at once")
    try:
        yield conn
    except BaseException:
        with contextlib.suppress(Exception):
            conn.rollback()
        _close_quietly(conn)
        raise
    try:
        conn.rollback()
    except Exception:
        _close_quietly(conn)
        return
    _IDLE.give(uri, conn)


def _lock_key(schema: str, table: str) -> int:
    digest = hashlib.blake2b(f"storeml-io:{schema}.{table}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _slice_lock_key(schema: str, table: str, slices: Sequence[Slice]) -> int:
    return _lock_key(schema, f"{table}|{slices!r}")


def _fetch(cur: Any, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    cur.execute(query, tuple(params) if params else None)
    return cur.fetchall()


def _exec(cur: Any, query: str, params: Sequence[Any] = ()) -> None:
    cur.execute(query, tuple(params) if params else None)
    # drain any result so the statement finishes
    with contextlib.suppress(Exception):
        cur.fetchall()


# ---------------------------------------------------------------------------------------------
# catalog
# ---------------------------------------------------------------------------------------------
def table_oid(cur: Any, schema: str, table: str) -> int | None:
    rows = _fetch(
        cur,
        "select c.oid::bigint from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'p')",
        (schema, table),
    )
    return int(rows[0][0]) if rows else None


def table_columns(cur: Any, oid: int) -> list[PgColumn]:
    rows = _fetch(
        cur,
        "select a.attname, t.typname, format_type(a.atttypid, a.atttypmod), a.atttypmod, e.typname "
        "from pg_attribute a join pg_type t on t.oid = a.atttypid "
        "left join pg_type e on e.oid = t.typelem and t.typcategory = 'A' "
        "where a.attrelid = $1::bigint::oid and a.attnum > 0 and not a.attisdropped order by a.attnum",
        (oid,),
    )
    return [PgColumn(r[0], r[1], r[2], int(r[3]), r[4]) for r in rows]


def _has_definition_to_keep(cur: Any, oid: int) -> bool:
    """Indexes, constraints, or objects (views, foreign keys) that depend on the table."""
    rows = _fetch(
        cur,
        "select exists (select 1 from pg_index where indrelid = $1::bigint::oid) "
        "or exists (select 1 from pg_constraint where conrelid = $1::bigint::oid) "
        "or exists (select 1 from pg_depend where refobjid = $1::bigint::oid and deptype = 'n')",
        (oid,),
    )
    return bool(rows[0][0])


def ensure_schema(conn: adbc.Connection, schema: str) -> None:
    """``create schema if not exists`` under an advisory lock (safe with concurrent writers)."""
    with conn.cursor() as cur:
        if _fetch(cur, "select 1 from pg_namespace where nspname = $1", (schema,)):
            return
        _exec(cur, "select pg_advisory_xact_lock($1)", (_lock_key(schema, ""),))
        _exec(cur, f"create schema if not exists {quote(schema)}")
    conn.commit()


def _create_table_sql(schema: str, table: str, data: pa.Table) -> str:
    cols = ", ".join(f"{quote(f.name)} {pg_type_for(f)}" for f in data.schema)
    return f"create table {qualified(schema, table)} ({cols})"


def _ingest(cur: Any, schema: str, table: str, data: pa.Table) -> None:
    if data.num_rows:
        cur.adbc_ingest(table, data, mode="append", db_schema_name=schema)


def _append(cur: Any, schema: str, table: str, data: pa.Table, columns: list[PgColumn]) -> None:
    """Append rows; through a temporary table + cast when COPY binary cannot fill a column."""
    by_name = {c.name: c for c in columns}
    if not any(needs_sql_cast(by_name[name]) for name in data.schema.names):
        _ingest(cur, schema, table, data)
        return
    if not data.num_rows:
        return
    temp = f"_storeml_tmp_{uuid.uuid4().hex[:12]}"
    cols = ", ".join(f"{quote(f.name)} {pg_type_for(f)}" for f in data.schema)
    _exec(cur, f"create temporary table {quote(temp)} ({cols}) on commit drop")
    cur.adbc_ingest(temp, data, mode="append", temporary=True)
    names = ", ".join(quote(n) for n in data.schema.names)
    casts = ", ".join(f"cast({quote(n)} as {by_name[n].formatted})" for n in data.schema.names)
    _exec(cur, f"insert into {qualified(schema, table)} ({names}) select {casts} from {quote(temp)}")


# ---------------------------------------------------------------------------------------------
# writes
# ---------------------------------------------------------------------------------------------
def replace_table(url: str, schema: str, table: str, data: pa.Table) -> WriteResult:
    """Replace ``schema.table`` with ``data`` atomically (see module docstring)."""
    check_identifier(schema, "schema name")
    check_identifier(table, "table name")
    started = time.perf_counter()
    with adbc_connection(url) as conn:
        ensure_schema(conn, schema)
        stage = f"_storeml_stage_{uuid.uuid4().hex[:16]}"
        with conn.cursor() as cur:
            try:
                _exec(cur, _create_table_sql(schema, stage, data))
                _ingest(cur, schema, stage, data)
                _exec(cur, "select pg_advisory_xact_lock($1)", (_lock_key(schema, table),))
                oid = table_oid(cur, schema, table)
                mode = "swap"
                if oid is not None:
                    _exec(cur, f"lock table {qualified(schema, table)} in access exclusive mode")
                    if _has_definition_to_keep(cur, oid):
                        mode = "refill"
                        columns = table_columns(cur, oid)
                        conform_to_table(
                            data, [c for c in columns if c.name in data.schema.names], f"{schema}.{table}"
                        )
                        missing = [c for c in data.schema.names if c not in {c.name for c in columns}]
                        if missing:
                            raise FrameTypeError(f"column {missing[0]!r} is not in table {schema}.{table}")
                        by_name = {c.name: c for c in columns}
                        names = ", ".join(quote(n) for n in data.schema.names)
                        casts = ", ".join(
                            f"cast({quote(n)} as {by_name[n].formatted})" for n in data.schema.names
                        )
                        _exec(cur, f"truncate {qualified(schema, table)}")
                        _exec(
                            cur,
                            f"insert into {qualified(schema, table)} ({names}) "
                            f"select {casts} from {qualified(schema, stage)}",
                        )
                        _exec(cur, f"drop table {qualified(schema, stage)}")
                    else:
                        _exec(cur, f"drop table {qualified(schema, table)}")
                if mode == "swap":
                    _exec(cur, f"alter table {qualified(schema, stage)} rename to {quote(table)}")
                conn.commit()
            except (FrameTypeError, ValueError):
                conn.rollback()
                raise
            except Exception as exc:
                conn.rollback()
                raise PostgresIOError(f"writing table {schema}.{table} failed: {first_line(exc)}") from None
    return WriteResult(data.num_rows, time.perf_counter() - started, oid is None, mode)


def write_slices(url: str, schema: str, table: str, data: pa.Table, slices: Sequence[Slice]) -> WriteResult:
    """Replace the rows of one partition slice of ``schema.table`` with ``data``, in one transaction."""
    check_identifier(schema, "schema name")
    check_identifier(table, "table name")
    started = time.perf_counter()
    name = f"{schema}.{table}"
    stray = rows_outside_slices(data, slices)
    if stray is not None:
        raise ValueError(
            f"{stray[1]} of {data.num_rows} rows have {stray[0]!r} outside the partition being written "
            f"to table {name}; nothing was written"
        )
    with adbc_connection(url) as conn:
        ensure_schema(conn, schema)
        with conn.cursor() as cur:
            try:
                created = False
                oid = table_oid(cur, schema, table)
                if oid is None:
                    _exec(cur, "select pg_advisory_xact_lock($1)", (_lock_key(schema, table),))
                    oid = table_oid(cur, schema, table)
                    if oid is None:
                        _exec(cur, _create_table_sql(schema, table, data))
                        oid = table_oid(cur, schema, table)
                        created = True
                assert oid is not None
                # writers of the same slice take turns (else both delete, then both insert)
                _exec(cur, "select pg_advisory_xact_lock($1)", (_slice_lock_key(schema, table, slices),))
                columns = table_columns(cur, oid)
                data = conform_to_table(data, columns, name)
                where, params = slice_predicate(slices, {c.name for c in columns})
                if not created:
                    _exec(cur, f"delete from {qualified(schema, table)} where {where}", params)
                _append(cur, schema, table, data, columns)
                conn.commit()
            except (FrameTypeError, ValueError):
                conn.rollback()
                raise
            except Exception as exc:
                conn.rollback()
                raise PostgresIOError(
                    f"writing a partition of table {name} failed: {first_line(exc)}"
                ) from None
    return WriteResult(data.num_rows, time.perf_counter() - started, created, "slice")


def rows_outside_slices(data: pa.Table, slices: Sequence[Slice]) -> tuple[str, int] | None:
    """The first slice column with rows outside its slice, and how many; None when all fit.

    Only slices whose ``expr`` is a column of ``data`` are checked (an SQL expression is not).
    """
    for piece in slices:
        if piece.expr not in data.schema.names or data.num_rows == 0:
            continue
        column = data.column(piece.expr)
        if isinstance(piece, TimeSlice):
            dtype = column.type
            if pa.types.is_date32(dtype):
                start: Any = piece.start.astimezone(dt.UTC).date()
                end: Any = piece.end.astimezone(dt.UTC).date()
            elif pa.types.is_timestamp(dtype) and dtype.tz is None:
                start = piece.start.astimezone(dt.UTC).replace(tzinfo=None)
                end = piece.end.astimezone(dt.UTC).replace(tzinfo=None)
            elif pa.types.is_timestamp(dtype):
                start, end = piece.start, piece.end
            else:
                continue
            inside = pc.and_(
                pc.greater_equal(column, pa.scalar(start, type=dtype)),
                pc.less(column, pa.scalar(end, type=dtype)),
            )
        else:
            inside = pc.is_in(
                pc.cast(column, pa.string()), value_set=pa.array(list(piece.values), pa.string())
            )
        outside = data.num_rows - pc.sum(pc.fill_null(inside, False)).as_py()
        if outside:
            return piece.expr, outside
    return None


def _expr_sql(expr: str, columns: set[str]) -> str:
    """A column name is quoted; anything else is a trusted SQL expression from asset metadata."""
    return quote(expr) if expr in columns else f"({expr})"


def slice_predicate(slices: Sequence[Slice], columns: set[str]) -> tuple[str, list[Any]]:
    """A ``where`` clause (with ``$n`` placeholders) and its bound values."""
    parts: list[str] = []
    params: list[Any] = []
    for piece in slices:
        expr = _expr_sql(piece.expr, columns)
        if isinstance(piece, TimeSlice):
            params += [piece.start.isoformat(), piece.end.isoformat()]
            n = len(params)
            parts.append(f"{expr} >= cast(${n - 1} as timestamptz) and {expr} < cast(${n} as timestamptz)")
        else:
            if not piece.values:
                parts.append("false")
                continue
            holes = []
            for value in piece.values:
                params.append(str(value))
                holes.append(f"${len(params)}")
            parts.append(f"cast({expr} as text) in ({', '.join(holes)})")
    return (" and ".join(f"({p})" for p in parts) or "true"), params


# ---------------------------------------------------------------------------------------------
# reads
# ---------------------------------------------------------------------------------------------
def read_table(
    url: str,
    schema: str,
    table: str,
    columns: Sequence[str] | None = None,
    slices: Sequence[Slice] = (),
) -> pa.Table:
    """Rows of ``schema.table`` (only ``columns``, only rows in ``slices``) as plain Arrow."""
    name = f"{schema}.{table}"
    with adbc_connection(url) as conn, conn.cursor() as cur:
        try:
            lookup = (
                "select c.oid::bigint from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'p', 'v', 'm', 'f')"
            )
            if not _fetch(cur, lookup, (schema, table)):
                raise TableNotFoundError(f"table {name} does not exist; materialize its asset first")
            # Hold ACCESS SHARE from here on: a concurrent swap either finished before (we see the
            # new table) or waits for this read (we see the old one); the catalog cannot move under us.
            _exec(cur, f"lock table {qualified(schema, table)} in access share mode")
            oid = int(_fetch(cur, lookup, (schema, table))[0][0])
            existing = {c.name for c in table_columns(cur, oid)}
            if columns:
                unknown = [c for c in columns if c not in existing]
                if unknown:
                    raise ValueError(
                        f"column {unknown[0]!r} is not in table {name} (its columns: {', '.join(sorted(existing))})"
                    )
                select = ", ".join(quote(c) for c in columns)
            else:
                select = "*"
            where, params = slice_predicate(slices, existing)
            cur.execute(
                f"select {select} from {qualified(schema, table)} where {where}", tuple(params) or None
            )
            result = cur.fetch_arrow_table()
            conn.commit()
        except (TableNotFoundError, ValueError):
            raise
        except Exception as exc:
            raise PostgresIOError(f"reading table {name} failed: {first_line(exc)}") from None
    return normalize_result(result)
