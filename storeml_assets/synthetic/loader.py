"""Load simulated data into the source databases and the ground truth into ``storeml``.

All-or-nothing. Each database gets one connection holding one transaction that replaces the
simulator's tables; every transaction commits only after every database has loaded, and any
failure rolls every one back so the previous contents remain.

The largest tables that nothing references ("leaf" tables such as ``user_interactions``) take a
faster path: outside that transaction they are COPYed (binary, through ADBC) in parallel chunks
into a new table ``<table>__load`` created ``like`` the original, whose keys and indexes are then
built in parallel on other connections. The database's transaction drops the original and
renames the new table (and its indexes) into place, then adds its foreign keys and triggers,
so the schema ends identical to the migrated one. A failure drops the ``__load`` tables.

The general machinery (both paths, the task scheduler) is ``storeml_assets.db.bulk_load``; this
module holds what is specific to the simulated storefront: which databases and tables, the
ground truth, the run record and the report.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import psycopg2
import psycopg2.extensions
import psycopg2.extras
from psycopg2 import sql

from storeml_assets.db.bulk_load import (
    OnTable,
    Swap,
    TableError,
    Task,
    copy_frame,
    create_staging,
    database_tasks,
    drop_staging,
    plan_swap,
    run_tasks,
    truncate,
)
from storeml_assets.db.locator import connect, database_url
from storeml_assets.db.urls import first_line
from storeml_assets.settings import SOURCE_DATABASES, Settings, get_settings
from storeml_assets.synthetic.simulator import SimulatedData

GROUND_TRUTH_SCHEMA = "ground_truth"
GROUND_TRUTH_DATABASE = "storeml"
APPLICATION_NAME = "storeml-simulator"
#: advisory lock key serializing simulator loads into one database
LOADER_LOCK_KEY = 0x73746F726D6C  # "storml"

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
    #: ``database.table`` of the tables loaded through a staging table and swapped in
    swapped: list[str] = field(default_factory=list)
    #: (task, started, finished) of every task, perf_counter seconds: who ran when
    timeline: list[tuple[str, float, float]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def row_counts(self) -> dict[str, int]:
        return {f"{t.database}.{t.table}": t.rows for t in self.tables if not t.table.startswith("(")}


def _load_ground_truth(cur: psycopg2.extensions.cursor, data: SimulatedData, report: LoadReport,
                       record: OnTable) -> None:
    names = list(data.ground_truth)
    truncate(cur, [sql.Identifier(GROUND_TRUTH_SCHEMA, n) for n in names])
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
        record(GROUND_TRUTH_DATABASE, f"{GROUND_TRUTH_SCHEMA}.{name}", df.height, started)
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
    swap_threshold: int = 500_000,
    chunk_rows: int = 2_000_000,
) -> LoadReport:
    """Replace every simulated table in the source databases (and ``ground_truth`` in ``storeml``).

    The databases must already be migrated. Work runs on ``parallel`` threads: a table of at
    least ``swap_threshold`` rows that nothing references is loaded into a staging table in
    chunks of ``chunk_rows`` and indexed in parallel, then swapped in; the other tables load
    inside their database's transaction, which drops and rebuilds foreign keys and indexes when
    the database holds at least ``bulk_threshold`` rows. Raises :class:`LoadError` naming the
    database and table that failed; nothing is then changed anywhere.
    """
    settings = settings or get_settings()
    unknown = set(data.databases) - set(SOURCE_DATABASES)
    if unknown:
        raise ValueError(f"not a source database: {', '.join(sorted(unknown))}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    report = LoadReport()
    started_all = time.perf_counter()
    sources = [db for db in SOURCE_DATABASES if db in data.databases]
    targets = sources + ([GROUND_TRUTH_DATABASE] if ground_truth else [])
    urls = {db: database_url(db, settings) for db in targets}
    lock = threading.Lock()

    def on_table(database: str, table: str, rows: int, started: float) -> None:
        with lock:
            _record(report, progress, database, table, rows, started)

    conns: dict[str, psycopg2.extensions.connection] = {}
    swaps: dict[str, list[Swap]] = {db: [] for db in sources}
    where = "connect"
    try:
        for db in targets:
            where = db
            conns[db] = connect(urls[db], application_name=APPLICATION_NAME)
        for db in sources:
            where = f"{db} (staging tables)"
            with conns[db].cursor() as cur:
                # one loader at a time per database (session lock, released when the connection closes)
                cur.execute("select pg_advisory_lock(%s)", (LOADER_LOCK_KEY,))
                for table, df in data.databases[db].items():
                    swap = (plan_swap(cur, db, table, df, application_name=APPLICATION_NAME)
                            if df.height >= max(1, swap_threshold) else None)
                    if swap is not None:
                        swaps[db].append(swap)
                        create_staging(cur, swap)
            conns[db].commit()
        report.swapped = [f"{s.database}.{s.table}" for db in sources for s in swaps[db]]
        run_tasks(_plan_tasks(data, sources, swaps, conns, urls, report, on_table, bulk_threshold, chunk_rows,
                              ground_truth), parallel, report.timeline)
        where = "commit"
        for db in targets:
            conns[db].commit()
    except Exception as exc:
        if isinstance(exc, TableError):
            where, exc = exc.where, exc.cause  # type: ignore[assignment]
        for conn in conns.values():
            with contextlib.suppress(psycopg2.Error):
                conn.rollback()
        for db in sources:
            drop_staging(urls[db], swaps[db])
        raise LoadError(f"loading simulated data failed at {where}: {first_line(exc)}") from exc
    finally:
        for conn in conns.values():
            conn.close()
    report.seconds = time.perf_counter() - started_all
    return report


def _plan_tasks(
    data: SimulatedData,
    sources: list[str],
    swaps: dict[str, list[Swap]],
    conns: dict[str, psycopg2.extensions.connection],
    urls: dict[str, str],
    report: LoadReport,
    on_table: OnTable,
    bulk_threshold: int,
    chunk_rows: int,
    ground_truth: bool,
) -> list[Task]:
    """Every source database's task graph (``database_tasks``), then the ground truth's load."""
    tasks: list[Task] = []
    for db in sources:
        tasks += database_tasks(db, conns[db], urls[db], data.databases[db], swaps[db], on_table,
                                bulk_threshold=bulk_threshold, chunk_rows=chunk_rows)
    if ground_truth:
        def truth() -> None:
            with conns[GROUND_TRUTH_DATABASE].cursor() as cur:
                _load_ground_truth(cur, data, report, on_table)

        tasks.append(Task(f"{GROUND_TRUTH_DATABASE}.{GROUND_TRUTH_SCHEMA}", truth,
                          cost=sum(df.height for df in data.ground_truth.values())))
    return tasks


def summary(report: LoadReport) -> str:
    """A compact JSON summary (row counts and seconds) for logs and metadata."""
    return json.dumps({"rows": report.rows, "seconds": round(report.seconds, 3), "tables": report.row_counts()})
