"""Load simulated data into the source databases and the ground truth into ``storeml``.

All-or-nothing: one connection per database, each in one transaction that truncates the
simulator's tables and COPYs the new rows; every transaction commits only after every database
has loaded, and any failure rolls every one back so the previous contents remain.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import psycopg2
import psycopg2.extensions
import psycopg2.extras
from psycopg2 import sql

from storeml_assets.db.locator import connect, database_url
from storeml_assets.db.urls import redact
from storeml_assets.settings import SOURCE_DATABASES, Settings, get_settings
from storeml_assets.synthetic.simulator import SimulatedData

GROUND_TRUTH_SCHEMA = "ground_truth"
GROUND_TRUTH_DATABASE = "storeml"
#: rows per COPY chunk: bounds the client-side CSV buffer for the largest tables
COPY_CHUNK_ROWS = 1_000_000

ProgressCallback = Callable[[str, int, float], None]


class LoadError(RuntimeError):
    """Loading failed; every database was rolled back to its previous contents."""


@dataclass(frozen=True)
class TableLoad:
    database: str
    table: str
    rows: int
    seconds: float


@dataclass
class LoadReport:
    """What ``load`` wrote: one entry per table, and the wall time."""

    tables: list[TableLoad] = field(default_factory=list)
    seconds: float = 0.0
    run_id: int | None = None

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def row_counts(self) -> dict[str, int]:
        return {f"{t.database}.{t.table}": t.rows for t in self.tables if not t.table.startswith("(")}


def _chunks(df: pl.DataFrame, size: int) -> Iterator[pl.DataFrame]:
    if df.height <= size:
        yield df
        return
    for offset in range(0, df.height, size):
        yield df.slice(offset, size)


def copy_frame(cur: psycopg2.extensions.cursor, qualified: sql.Composable, df: pl.DataFrame) -> None:
    """COPY ``df`` into an existing table (columns by name) through an in-memory CSV buffer."""
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in df.columns)
    statement = sql.SQL("copy {} ({}) from stdin with (format csv, header true)").format(qualified, columns)
    text = statement.as_string(cur.connection)
    for chunk in _chunks(df, COPY_CHUNK_ROWS):
        buffer = io.BytesIO()
        chunk.write_csv(buffer, datetime_format="%Y-%m-%d %H:%M:%S%.6f%:z")
        buffer.seek(0)
        cur.copy_expert(text, buffer, size=1 << 20)


def _truncate(cur: psycopg2.extensions.cursor, tables: list[sql.Composable]) -> None:
    if tables:
        cur.execute(sql.SQL("truncate table {}").format(sql.SQL(", ").join(tables)))


@dataclass(frozen=True)
class _Deferred:
    """Keys, foreign keys and secondary indexes dropped before a bulk COPY and rebuilt after it."""

    keys: list[tuple[str, str, str]]  # (table, constraint, definition): primary keys, unique constraints
    foreign_keys: list[tuple[str, str, str]]
    indexes: list[tuple[str, str]]  # (index, definition)


def _defer_constraints(cur: psycopg2.extensions.cursor, tables: list[str]) -> _Deferred:
    """Drop the keys, foreign keys and other indexes of ``tables`` (in the open transaction).

    Building an index once by sorting and validating a foreign key with one join is far faster
    than maintaining them row by row during COPY; the transaction keeps it invisible to readers
    (they wait on the table locks, then see the new contents with every index in place).
    ``tables`` must hold every table that references them (a whole database's tables).
    """
    cur.execute(
        """
        select c.contype, c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
        from pg_constraint c
        where c.contype in ('p', 'u', 'f') and c.conrelid::regclass::text = any(%s)
        order by c.contype, 2, 3
        """,
        (tables,),
    )
    rows = cur.fetchall()
    fks = [(r[1], r[2], r[3]) for r in rows if r[0] == "f"]
    keys = [(r[1], r[2], r[3]) for r in rows if r[0] != "f"]
    cur.execute(
        """
        select i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        from pg_index i
        where i.indrelid::regclass::text = any(%s)
          and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)
        order by 1
        """,
        (tables,),
    )
    indexes = [(r[0], r[1]) for r in cur.fetchall()]
    for table, name, _ in fks + keys:
        cur.execute(sql.SQL("alter table {} drop constraint {}").format(sql.Identifier(table), sql.Identifier(name)))
    for name, _ in indexes:
        cur.execute(sql.SQL("drop index {}").format(sql.Identifier(name)))
    return _Deferred(keys, fks, indexes)


def _restore_constraints(cur: psycopg2.extensions.cursor, deferred: _Deferred) -> None:
    def add(table: str, name: str, definition: str) -> None:
        # definitions come from pg_get_constraintdef / pg_get_indexdef: server-generated text
        cur.execute(
            sql.SQL("alter table {} add constraint {} ").format(sql.Identifier(table), sql.Identifier(name))
            + sql.SQL(definition)
        )

    for table, name, definition in deferred.keys:
        add(table, name, definition)
    for _, definition in deferred.indexes:
        cur.execute(definition)
    for table, name, definition in deferred.foreign_keys:
        add(table, name, definition)


def _load_database(
    conn: psycopg2.extensions.connection,
    database: str,
    tables: dict[str, pl.DataFrame],
    bulk_threshold: int,
    on_table: Callable[[str, str, int, float], None],
) -> None:
    """Truncate and COPY one database's tables inside the connection's open transaction."""
    with conn.cursor() as cur:
        cur.execute("set local synchronous_commit = off")
        cur.execute("set local maintenance_work_mem = '1GB'")
        big = sum(df.height for df in tables.values()) >= bulk_threshold
        deferred = _defer_constraints(cur, list(tables)) if big else None
        _truncate(cur, [sql.Identifier(t) for t in tables])
        for table, df in tables.items():
            started = time.perf_counter()
            try:
                copy_frame(cur, sql.Identifier(table), df)
            except Exception as exc:
                raise _TableError(f"{database}.{table}", exc) from exc
            on_table(database, table, df.height, started)
        if deferred is not None:
            started = time.perf_counter()
            try:
                _restore_constraints(cur, deferred)
            except Exception as exc:
                raise _TableError(f"{database} (indexes and foreign keys)", exc) from exc
            on_table(database, "(keys, indexes, foreign keys)", 0, started)


class _TableError(Exception):
    def __init__(self, where: str, exc: BaseException) -> None:
        super().__init__(where)
        self.where = where
        self.cause = exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return redact(text.splitlines()[0] if text else type(exc).__name__)


def _load_ground_truth(cur: psycopg2.extensions.cursor, data: SimulatedData, report: LoadReport,
                       progress: ProgressCallback | None) -> None:
    names = ["planted_bundles", "customer_propensity", "drift_spec"]
    _truncate(cur, [sql.Identifier(GROUND_TRUTH_SCHEMA, n) for n in names])
    for name in names:
        started = time.perf_counter()
        df = data.ground_truth[name]
        target = sql.Identifier(GROUND_TRUTH_SCHEMA, name)
        if any(isinstance(dtype, pl.List) for dtype in df.schema.values()):
            columns = sql.SQL(", ").join(sql.Identifier(c) for c in df.columns)
            query = sql.SQL("insert into {} ({}) values %s").format(target, columns).as_string(cur.connection)
            psycopg2.extras.execute_values(cur, query, [tuple(r.values()) for r in df.iter_rows(named=True)])
        elif df.height:
            copy_frame(cur, target, df)
        _record(report, progress, GROUND_TRUTH_DATABASE, f"{GROUND_TRUTH_SCHEMA}.{name}", df.height, started)
    run = data.simulation_run()
    columns = list(run)
    values: list[Any] = [psycopg2.extras.Json(v) if isinstance(v, dict) else v for v in run.values()]
    cur.execute(
        sql.SQL("insert into {} ({}) values ({}) returning run_id").format(
            sql.Identifier(GROUND_TRUTH_SCHEMA, "simulation_runs"),
            sql.SQL(", ").join(sql.Identifier(c) for c in columns),
            sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        ),
        values,
    )
    report.run_id = int(cur.fetchone()[0])


def _record(report: LoadReport, progress: ProgressCallback | None, database: str, table: str, rows: int,
            started: float) -> None:
    seconds = time.perf_counter() - started
    report.tables.append(TableLoad(database, table, rows, seconds))
    if progress is not None:
        progress(f"{database}.{table}", rows, seconds)


def load(
    data: SimulatedData,
    settings: Settings | None = None,
    *,
    progress: ProgressCallback | None = None,
    ground_truth: bool = True,
    parallel: int = 2,
    bulk_threshold: int = 100_000,
) -> LoadReport:
    """Replace every simulated table in the source databases (and ``ground_truth`` in ``storeml``).

    The databases must already be migrated. Databases load concurrently (``parallel`` threads,
    one connection each); a database with at least ``bulk_threshold`` rows has its foreign keys
    and secondary indexes dropped and rebuilt inside its transaction. Raises :class:`LoadError`
    naming the database and table that failed; nothing is then changed anywhere.
    """
    settings = settings or get_settings()
    unknown = set(data.databases) - set(SOURCE_DATABASES)
    if unknown:
        raise ValueError(f"not a source database: {', '.join(sorted(unknown))}")
    report = LoadReport()
    started_all = time.perf_counter()
    sources = [db for db in SOURCE_DATABASES if db in data.databases]
    targets = sources + ([GROUND_TRUTH_DATABASE] if ground_truth else [])
    lock = threading.Lock()

    def on_table(database: str, table: str, rows: int, started: float) -> None:
        with lock:
            _record(report, progress, database, table, rows, started)

    conns: dict[str, psycopg2.extensions.connection] = {}
    where = "connect"
    try:
        for db in targets:
            where = db
            conns[db] = connect(database_url(db, settings), application_name="storeml-simulator")
        # biggest databases first, so the threads finish together
        order = sorted(sources, key=lambda db: -sum(df.height for df in data.databases[db].values()))
        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            futures = {
                pool.submit(_load_database, conns[db], db, data.databases[db], bulk_threshold, on_table): db
                for db in order
            }
            errors = []
            for future in futures:
                try:
                    future.result()
                except _TableError as exc:
                    errors.append(exc)
            if errors:
                first = errors[0]
                where = first.where
                raise first.cause
        if ground_truth:
            where = f"{GROUND_TRUTH_DATABASE}.{GROUND_TRUTH_SCHEMA}"
            with conns[GROUND_TRUTH_DATABASE].cursor() as cur:
                _load_ground_truth(cur, data, report, progress)
        where = "commit"
        for db in targets:
            conns[db].commit()
    except Exception as exc:
        for conn in conns.values():
            with contextlib.suppress(psycopg2.Error):
                conn.rollback()
        raise LoadError(f"loading simulated data failed at {where}: {_first_line(exc)}") from exc
    finally:
        for conn in conns.values():
            conn.close()
    report.seconds = time.perf_counter() - started_all
    return report


def summary(report: LoadReport) -> str:
    """A compact JSON summary (row counts and seconds) for logs and metadata."""
    return json.dumps({"rows": report.rows, "seconds": round(report.seconds, 3), "tables": report.row_counts()})
