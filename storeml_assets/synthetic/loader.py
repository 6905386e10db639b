"""Load simulated data into the source databases and the ground truth into ``storeml``.

All-or-nothing: one connection per database, each in one transaction that truncates the
simulator's tables and COPYs the new rows; every transaction commits only after every database
has loaded, and any failure rolls every one back so the previous contents remain.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable, Iterator
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
        return {f"{t.database}.{t.table}": t.rows for t in self.tables}


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
) -> LoadReport:
    """Replace every simulated table in the source databases (and ``ground_truth`` in ``storeml``).

    The databases must already be migrated. Raises :class:`LoadError` naming the database and
    table that failed; nothing is then changed anywhere.
    """
    settings = settings or get_settings()
    report = LoadReport()
    started_all = time.perf_counter()
    targets = [db for db in SOURCE_DATABASES if db in data.databases]
    unknown = set(data.databases) - set(SOURCE_DATABASES)
    if unknown:
        raise ValueError(f"not a source database: {', '.join(sorted(unknown))}")
    if ground_truth:
        targets.append(GROUND_TRUTH_DATABASE)
    conns: dict[str, psycopg2.extensions.connection] = {}
    where = "connect"
    try:
        for db in targets:
            where = db
            conns[db] = connect(database_url(db, settings), application_name="storeml-simulator")
        for db in targets:
            cur = conns[db].cursor()
            if db == GROUND_TRUTH_DATABASE:
                where = f"{db}.{GROUND_TRUTH_SCHEMA}"
                _load_ground_truth(cur, data, report, progress)
                continue
            tables = data.databases[db]
            where = db
            _truncate(cur, [sql.Identifier(t) for t in tables])
            for table, df in tables.items():
                where = f"{db}.{table}"
                started = time.perf_counter()
                copy_frame(cur, sql.Identifier(table), df)
                _record(report, progress, db, table, df.height, started)
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
