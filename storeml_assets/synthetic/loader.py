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
"""

from __future__ import annotations

import contextlib
import heapq
import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import psycopg2
import psycopg2.extensions
import psycopg2.extras
from psycopg2 import sql

from storeml_assets.db.locator import connect, connection, database_url
from storeml_assets.db.urls import first_line
from storeml_assets.io.arrow_types import PgColumn, conform_to_table, needs_sql_cast
from storeml_assets.io.pg_tables import adbc_connection
from storeml_assets.settings import SOURCE_DATABASES, Settings, get_settings
from storeml_assets.synthetic.simulator import SimulatedData

GROUND_TRUTH_SCHEMA = "ground_truth"
GROUND_TRUTH_DATABASE = "storeml"
#: rows per COPY chunk: bounds the client-side CSV buffer for the largest tables
COPY_CHUNK_ROWS = 1_000_000
#: suffix of the staging table a swapped table is loaded into
LOAD_SUFFIX = "__load"
APPLICATION_NAME = "storeml-simulator"
#: per-session memory for index builds (two run at once)
INDEX_BUILD_MEMORY = "512MB"
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


# ---------------------------------------------------------------------------------------------
# in-transaction path: truncate, COPY, keys and indexes dropped and rebuilt
# ---------------------------------------------------------------------------------------------
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


def _add_constraint(cur: psycopg2.extensions.cursor, table: sql.Composable, name: str, definition: str) -> None:
    # definitions come from pg_get_constraintdef: server-generated text
    cur.execute(
        sql.SQL("alter table {} add constraint {} ").format(table, sql.Identifier(name)) + sql.SQL(definition)
    )


def _restore_constraints(cur: psycopg2.extensions.cursor, deferred: _Deferred) -> None:
    for table, name, definition in deferred.keys:
        _add_constraint(cur, sql.Identifier(table), name, definition)
    for _, definition in deferred.indexes:
        cur.execute(definition)
    for table, name, definition in deferred.foreign_keys:
        _add_constraint(cur, sql.Identifier(table), name, definition)


# ---------------------------------------------------------------------------------------------
# swap path: staging table loaded and indexed outside the transaction, swapped in inside it
# ---------------------------------------------------------------------------------------------
_INDEX_DEF = re.compile(r"^CREATE (UNIQUE )?INDEX \S+ ON (?:ONLY )?\S+ (USING .+)$", re.DOTALL)


@dataclass
class _Swap:
    """One table loaded through ``<table>__load``: what to build on it and how to swap it in."""

    database: str
    schema: str
    table: str
    frame: pl.DataFrame
    columns: list[PgColumn]  # of the frame's columns, in frame order
    #: (temporary index name, create statement) for every key and index, built in parallel
    builds: list[tuple[str, sql.Composable]] = field(default_factory=list)
    #: (constraint name, contype, temporary index name): keys attached ``using index``
    keys: list[tuple[str, str, str]] = field(default_factory=list)
    #: (index name, temporary index name): secondary indexes renamed into place
    indexes: list[tuple[str, str]] = field(default_factory=list)
    foreign_keys: list[tuple[str, str]] = field(default_factory=list)  # (name, definition)
    #: (name, contype, definition) of the other constraints (checks, not-null), copied by ``like``
    others: list[tuple[str, str, str]] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)  # definitions
    chunks_left: int = 0
    started: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def binary(self) -> bool:
        """Whether to COPY in binary straight from Arrow (through ADBC) rather than CSV.

        Binary needs every column fillable from Arrow; numeric columns go as CSV, which
        measured faster than ADBC's decimal encoding (order_items: 3.0 s against 4.2 s).
        """
        return all(not needs_sql_cast(c) and c.typname != "numeric" for c in self.columns)

    @property
    def load_table(self) -> str:
        return self.table + LOAD_SUFFIX

    def target(self) -> sql.Composable:
        return sql.Identifier(self.schema, self.table)

    def staging(self) -> sql.Composable:
        return sql.Identifier(self.schema, self.load_table)


_SWAPPABLE = """
select c.oid, n.nspname
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.oid = to_regclass(%(name)s) and c.relkind = 'r' and not c.relispartition and c.reloptions is null
  and not exists (select 1 from pg_class t where t.oid = c.reltoastrelid and t.reloptions is not null)
  and c.relacl is null and not c.relrowsecurity and c.relowner = (select oid from pg_roles where rolname = current_user)
  and obj_description(c.oid, 'pg_class') is null
  and not exists (select 1 from pg_inherits i where i.inhrelid = c.oid or i.inhparent = c.oid)
  and not exists (select 1 from pg_constraint k where k.confrelid = c.oid)
  and not exists (select 1 from pg_constraint k where k.conrelid = c.oid and k.contype not in ('p', 'u', 'f', 'c', 'n'))
  and not exists (select 1 from pg_policy p where p.polrelid = c.oid)
  and not exists (select 1 from pg_publication_rel p where p.prrelid = c.oid)
  and not exists (
      select 1 from pg_depend d join pg_rewrite r on d.classid = 'pg_rewrite'::regclass and d.objid = r.oid
      where d.refobjid = c.oid and r.ev_class <> c.oid)
  and not exists (
      select 1 from pg_depend d join pg_class s on d.classid = 'pg_class'::regclass and d.objid = s.oid
      where d.refobjid = c.oid and s.relkind = 'S')
  and not exists (
      select 1 from pg_index i where i.indrelid = c.oid
        and obj_description(i.indexrelid, 'pg_class') is not null)
"""


def _plan_swap(cur: psycopg2.extensions.cursor, database: str, table: str, df: pl.DataFrame) -> _Swap | None:
    """Read what swapping ``table`` needs, or None when something else depends on it.

    Swapped tables are those nothing references (no foreign key, view, sequence, policy,
    publication, grant or comment that ``create table ... like`` would not carry over).
    """
    cur.execute(_SWAPPABLE, {"name": table})
    row = cur.fetchone()
    if row is None:
        return None
    oid, schema = row
    cur.execute(
        """
        select a.attname, t.typname, format_type(a.atttypid, a.atttypmod), a.atttypmod, e.typname
        from pg_attribute a join pg_type t on t.oid = a.atttypid
        left join pg_type e on e.oid = t.typelem and t.typcategory = 'A'
        where a.attrelid = %s and a.attnum > 0 and not a.attisdropped
        """,
        (oid,),
    )
    by_name = {r[0]: PgColumn(r[0], r[1], r[2], int(r[3]), r[4]) for r in cur.fetchall()}
    swap = _Swap(database, schema, table, df, [by_name[c] for c in df.columns if c in by_name])
    staging = swap.staging()
    cur.execute(
        """
        select c.conname, c.contype, pg_get_constraintdef(c.oid), c.conindid::regclass::text,
               pg_get_indexdef(c.conindid)
        from pg_constraint c where c.conrelid = %s order by c.contype, c.conname
        """,
        (oid,),
    )
    number = 0

    def build(definition: str) -> str:
        nonlocal number
        match = _INDEX_DEF.match(definition)
        if match is None:
            raise ValueError(f"unexpected index definition on {table}: {definition[:80]}")
        number += 1
        temporary = f"{table[:40]}{LOAD_SUFFIX}_{number}"
        statement = sql.SQL("create {}index {} on {} ").format(
            sql.SQL("unique " if match.group(1) else ""), sql.Identifier(temporary), staging
        ) + sql.SQL(match.group(2))  # the column list: server-generated text
        swap.builds.append((temporary, statement))
        return temporary

    for name, contype, definition, _, index_definition in cur.fetchall():
        if contype in ("p", "u"):
            swap.keys.append((name, contype, build(index_definition)))
        elif contype == "f":
            swap.foreign_keys.append((name, definition))
        else:
            swap.others.append((name, contype, definition))
    cur.execute(
        """
        select i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) from pg_index i
        where i.indrelid = %s and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)
        order by 1
        """,
        (oid,),
    )
    for name, definition in cur.fetchall():
        swap.indexes.append((name.rsplit(".", 1)[-1].strip('"'), build(definition)))
    cur.execute("select pg_get_triggerdef(oid) from pg_trigger where tgrelid = %s and not tgisinternal order by tgname",
                (oid,))
    swap.triggers = [r[0] for r in cur.fetchall()]
    return swap


_NO_AUTOVACUUM = sql.SQL("autovacuum_enabled = false, toast.autovacuum_enabled = false")


def _create_staging(cur: psycopg2.extensions.cursor, swap: _Swap) -> None:
    cur.execute(sql.SQL("drop table if exists {}").format(swap.staging()))
    # autovacuum stays off while the staging table fills (it would vacuum the committed chunks
    # alongside the load); the swap resets it, leaving the original (empty) storage parameters
    cur.execute(
        sql.SQL("create table {} (like {} including all excluding indexes) with ({})").format(
            swap.staging(), swap.target(), _NO_AUTOVACUUM)
    )


def _drop_staging(url: str, swaps: list[_Swap]) -> None:
    """Drop the staging tables (after a failure), best effort."""
    if not swaps:
        return
    with (
        contextlib.suppress(Exception),
        connection(url, autocommit=True, application_name=APPLICATION_NAME) as conn,
        conn.cursor() as cur,
    ):
        for swap in swaps:
            cur.execute(sql.SQL("drop table if exists {}").format(swap.staging()))


def _copy_chunk(url: str, swap: _Swap, offset: int, length: int) -> None:
    """COPY rows ``offset .. offset+length`` into the staging table, on a connection of its own."""
    chunk = swap.frame.slice(offset, length)
    if swap.binary:
        data = conform_to_table(chunk.to_arrow(), swap.columns, f"{swap.database}.{swap.table}")
        with adbc_connection(url, APPLICATION_NAME) as conn, conn.cursor() as cur:
            cur.execute("set synchronous_commit = off")
            cur.adbc_ingest(swap.load_table, data, mode="append", db_schema_name=swap.schema)
            conn.commit()
        return
    with connection(url, application_name=APPLICATION_NAME) as conn, conn.cursor() as cur:
        cur.execute("set local synchronous_commit = off")
        copy_frame(cur, swap.staging(), chunk)


def _build_index(url: str, statement: sql.Composable) -> None:
    with connection(url, autocommit=True, application_name=APPLICATION_NAME) as conn, conn.cursor() as cur:
        cur.execute("set maintenance_work_mem = %s", (INDEX_BUILD_MEMORY,))
        cur.execute("set synchronous_commit = off")
        cur.execute(statement)


def _swap_in(cur: psycopg2.extensions.cursor, swap: _Swap) -> None:
    """Rename the built staging table into place, with the original names and definitions."""
    target = swap.target()
    cur.execute(sql.SQL("alter table {} rename to {}").format(swap.staging(), sql.Identifier(swap.table)))
    cur.execute(sql.SQL("alter table {} reset ({})").format(
        target, sql.SQL("autovacuum_enabled, toast.autovacuum_enabled")))
    for name, contype, temporary in swap.keys:
        kind = sql.SQL("primary key" if contype == "p" else "unique")
        cur.execute(sql.SQL("alter table {} add constraint {} {} using index {}").format(
            target, sql.Identifier(name), kind, sql.Identifier(temporary)))
    for name, temporary in swap.indexes:
        cur.execute(sql.SQL("alter index {} rename to {}").format(
            sql.Identifier(swap.schema, temporary), sql.Identifier(name)))
    cur.execute("select conname, contype, pg_get_constraintdef(oid) from pg_constraint where conrelid = %s::regclass",
                (target.as_string(cur.connection),))
    current = {(contype, definition): name for name, contype, definition in cur.fetchall()}
    for name, contype, definition in swap.others:
        have = current.get((contype, definition))
        if have is None:
            raise RuntimeError(f"constraint {name} did not carry over to the new {swap.table}")
        if have != name:
            cur.execute(sql.SQL("alter table {} rename constraint {} to {}").format(
                target, sql.Identifier(have), sql.Identifier(name)))
    for definition in swap.triggers:
        cur.execute(definition)  # pg_get_triggerdef: server-generated, names the original table


# ---------------------------------------------------------------------------------------------
# a small scheduler: tasks with dependencies and priorities on a fixed number of threads
# ---------------------------------------------------------------------------------------------
@dataclass(eq=False)
class _Task:
    where: str
    run: Callable[[], None]
    cost: float  # estimated work (row units), for priorities
    after: list[_Task] = field(default_factory=list)
    first: bool = False  # start before any other task (indivisible chains)
    done: bool = False
    priority: float = 0.0


#: estimated work per row, relative to a binary COPY
_COST_CSV_ROW = 1.4
_COST_INDEX_ROW = 0.6
_COST_FOREIGN_KEY_ROW = 0.3


def _prioritize(tasks: list[_Task]) -> None:
    """Priority = the task's cost plus the costliest chain after it (critical path first)."""
    successors: dict[int, list[_Task]] = {id(t): [] for t in tasks}
    for task in tasks:
        for dep in task.after:
            successors[id(dep)].append(task)
    done: dict[int, float] = {}

    def chain(task: _Task) -> float:
        if id(task) not in done:
            done[id(task)] = task.cost + max((chain(s) for s in successors[id(task)]), default=0.0)
        return done[id(task)]

    for task in tasks:
        task.priority = chain(task) + (1e15 if task.first else 0.0)


def _run_tasks(tasks: list[_Task], workers: int,
               timeline: list[tuple[str, float, float]] | None = None) -> None:
    """Run every task after its dependencies, highest priority first; raise the first failure.

    After a failure no new task starts; the running ones finish, then ``_TableError`` is raised.
    """
    _prioritize(tasks)
    cond = threading.Condition()
    pending = list(tasks)
    ready: list[tuple[float, int, _Task]] = []
    running = 0
    failure: list[_TableError] = []

    def release() -> None:
        for task in list(pending):
            if all(dep.done for dep in task.after):
                pending.remove(task)
                heapq.heappush(ready, (-task.priority, id(task), task))

    def worker() -> None:
        nonlocal running
        while True:
            with cond:
                while not ready and not failure and (pending or running):
                    cond.wait()
                if failure or not ready:
                    cond.notify_all()
                    return
                task = heapq.heappop(ready)[2]
                running += 1
            began = time.perf_counter()
            try:
                task.run()
            except _TableError as exc:
                error: _TableError | None = exc
            except Exception as exc:
                error = _TableError(task.where, exc)
            else:
                error = None
            with cond:
                running -= 1
                if timeline is not None:
                    timeline.append((task.where, began, time.perf_counter()))
                if error is not None:
                    failure.append(error)
                else:
                    task.done = True
                    release()
                cond.notify_all()

    with cond:
        release()
    threads = [threading.Thread(target=worker, name=f"storeml-load-{i}") for i in range(max(1, workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failure:
        raise failure[0]
    if pending:
        raise RuntimeError("load tasks left with unmet dependencies")


# ---------------------------------------------------------------------------------------------
# one database's transaction
# ---------------------------------------------------------------------------------------------
def _load_database(
    conn: psycopg2.extensions.connection,
    database: str,
    tables: dict[str, pl.DataFrame],
    swaps: list[_Swap],
    bulk_threshold: int,
    on_table: Callable[[str, str, int, float], None],
) -> None:
    """Drop the swapped tables, truncate and COPY the others, inside the open transaction."""
    with conn.cursor() as cur:
        cur.execute("set local synchronous_commit = off")
        cur.execute("set local maintenance_work_mem = '1GB'")
        for swap in swaps:
            cur.execute(sql.SQL("lock table {} in access exclusive mode").format(swap.target()))
            cur.execute(sql.SQL("drop table {}").format(swap.target()))
        big = sum(df.height for df in tables.values()) >= bulk_threshold
        deferred = _defer_constraints(cur, list(tables)) if big and tables else None
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


def _finish_database(
    conn: psycopg2.extensions.connection,
    database: str,
    swaps: list[_Swap],
    on_table: Callable[[str, str, int, float], None],
) -> None:
    """Swap the built staging tables in, then add their foreign keys (validated)."""
    started = time.perf_counter()
    with conn.cursor() as cur:
        for swap in swaps:
            try:
                _swap_in(cur, swap)
            except Exception as exc:
                raise _TableError(f"{database}.{swap.table} (swap)", exc) from exc
        for swap in swaps:
            for name, definition in swap.foreign_keys:
                try:
                    _add_constraint(cur, swap.target(), name, definition)
                except Exception as exc:
                    raise _TableError(f"{database}.{swap.table} (foreign keys)", exc) from exc
    on_table(database, "(swap)", 0, started)


class _TableError(Exception):
    def __init__(self, where: str, exc: BaseException) -> None:
        super().__init__(where)
        self.where = where
        self.cause = exc


def _load_ground_truth(cur: psycopg2.extensions.cursor, data: SimulatedData, report: LoadReport,
                       record: Callable[[str, str, int, float], None]) -> None:
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
    swaps: dict[str, list[_Swap]] = {db: [] for db in sources}
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
                    swap = _plan_swap(cur, db, table, df) if df.height >= max(1, swap_threshold) else None
                    if swap is not None:
                        swaps[db].append(swap)
                        _create_staging(cur, swap)
            conns[db].commit()
        report.swapped = [f"{s.database}.{s.table}" for db in sources for s in swaps[db]]
        _run_tasks(_plan_tasks(data, sources, swaps, conns, urls, report, on_table, bulk_threshold, chunk_rows,
                               ground_truth), parallel, report.timeline)
        where = "commit"
        for db in targets:
            conns[db].commit()
    except Exception as exc:
        if isinstance(exc, _TableError):
            where, exc = exc.where, exc.cause  # type: ignore[assignment]
        for conn in conns.values():
            with contextlib.suppress(psycopg2.Error):
                conn.rollback()
        for db in sources:
            _drop_staging(urls[db], swaps[db])
        raise LoadError(f"loading simulated data failed at {where}: {first_line(exc)}") from exc
    finally:
        for conn in conns.values():
            conn.close()
    report.seconds = time.perf_counter() - started_all
    return report


def _plan_tasks(
    data: SimulatedData,
    sources: list[str],
    swaps: dict[str, list[_Swap]],
    conns: dict[str, psycopg2.extensions.connection],
    urls: dict[str, str],
    report: LoadReport,
    on_table: Callable[[str, str, int, float], None],
    bulk_threshold: int,
    chunk_rows: int,
    ground_truth: bool,
) -> list[_Task]:
    """The task graph: staging chunks -> index builds -> swap; database transactions alongside.

    The database transactions start first (each is one long chain that cannot be split), the
    divisible staging work fills in behind them, longest remaining chain first.
    """
    tasks: list[_Task] = []
    for db in sources:
        swapped = {s.table for s in swaps[db]}
        rest = {t: df for t, df in data.databases[db].items() if t not in swapped}
        rows = sum(df.height for df in rest.values())
        start = _Task(db, lambda db=db, rest=rest: _load_database(  # type: ignore[misc]
            conns[db], db, rest, swaps[db], bulk_threshold, on_table),
            cost=rows * (_COST_CSV_ROW + (2 * _COST_INDEX_ROW if rows >= bulk_threshold else 0.0)), first=True)
        tasks.append(start)
        builds: list[_Task] = []
        for swap in swaps[db]:
            where = f"{db}.{swap.table}"
            chunks = []
            swap.chunks_left = -(-swap.frame.height // chunk_rows)
            for offset in range(0, swap.frame.height, chunk_rows):
                length = min(chunk_rows, swap.frame.height - offset)
                chunks.append(_Task(where, lambda swap=swap, offset=offset, length=length: _run_chunk(  # type: ignore[misc]
                    urls[swap.database], swap, offset, length, on_table),
                    cost=length * (1.0 if swap.binary else _COST_CSV_ROW)))
            for temporary, statement in swap.builds:
                builds.append(_Task(f"{where} (index {temporary})",
                                    lambda swap=swap, statement=statement: _timed_build(  # type: ignore[misc]
                                        urls[swap.database], swap, statement, on_table),
                                    cost=swap.frame.height * _COST_INDEX_ROW, after=chunks))
            tasks.extend(chunks)
        tasks.extend(builds)
        if swaps[db]:
            tasks.append(_Task(f"{db} (swap)", lambda db=db: _finish_database(  # type: ignore[misc]
                conns[db], db, swaps[db], on_table),
                cost=sum(s.frame.height * len(s.foreign_keys) for s in swaps[db]) * _COST_FOREIGN_KEY_ROW,
                after=[start, *builds]))
    if ground_truth:
        def truth() -> None:
            with conns[GROUND_TRUTH_DATABASE].cursor() as cur:
                _load_ground_truth(cur, data, report, on_table)

        tasks.append(_Task(f"{GROUND_TRUTH_DATABASE}.{GROUND_TRUTH_SCHEMA}", truth,
                           cost=sum(df.height for df in data.ground_truth.values())))
    return tasks


def _run_chunk(url: str, swap: _Swap, offset: int, length: int,
               on_table: Callable[[str, str, int, float], None]) -> None:
    with swap.lock:
        if not swap.started:
            swap.started = time.perf_counter()
    _copy_chunk(url, swap, offset, length)
    with swap.lock:
        swap.chunks_left -= 1
        last = swap.chunks_left == 0
    if last:
        on_table(swap.database, swap.table, swap.frame.height, swap.started)


def _timed_build(url: str, swap: _Swap, statement: sql.Composable,
                 on_table: Callable[[str, str, int, float], None]) -> None:
    started = time.perf_counter()
    _build_index(url, statement)
    on_table(swap.database, f"({swap.table} index)", 0, started)


def summary(report: LoadReport) -> str:
    """A compact JSON summary (row counts and seconds) for logs and metadata."""
    return json.dumps({"rows": report.rows, "seconds": round(report.seconds, 3), "tables": report.row_counts()})
