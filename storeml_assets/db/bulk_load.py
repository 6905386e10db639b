"""Bulk loading of DataFrames into Postgres tables, all-or-nothing per database transaction.

Two paths, chosen per table by the caller:

- in the transaction: the database's tables are truncated and COPYed inside one open
  transaction; when it is large, their keys, foreign keys and indexes are dropped first and
  rebuilt after (``defer_constraints`` / ``restore_constraints``), which is far faster than
  maintaining them row by row;
- staging and swap: a large table that nothing references is COPYed (binary through ADBC, or
  CSV) in parallel chunks into ``<table>__load`` created ``like`` the original, outside the
  transaction; its keys and indexes are built in parallel on other connections; the
  database's transaction then drops the original and renames the new table (and its indexes)
  into place and adds its foreign keys and triggers, so the schema ends identical
  (``plan_swap``, ``create_staging``, ``finish_database``). A failure drops the ``__load`` tables.

The work is a graph of ``Task``s run on a few threads, longest remaining chain first
(``database_tasks``, ``run_tasks``). Nothing here knows what the tables hold.
"""

from __future__ import annotations

import contextlib
import heapq
import io
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import polars as pl
import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from storeml_assets.db.locator import connection
from storeml_assets.io.arrow_types import PgColumn, conform_to_table, needs_sql_cast
from storeml_assets.io.pg_tables import adbc_connection

#: rows per COPY chunk: bounds the client-side CSV buffer for the largest tables
COPY_CHUNK_ROWS = 1_000_000
#: suffix of the staging table a swapped table is loaded into
LOAD_SUFFIX = "__load"
#: per-session memory for index builds (two run at once)
INDEX_BUILD_MEMORY = "512MB"

#: ``on_table(database, table, rows, started)``: a table (or a step, named in parentheses) is
#: done; ``started`` is its ``time.perf_counter()`` start
OnTable = Callable[[str, str, int, float], None]


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


def truncate(cur: psycopg2.extensions.cursor, tables: list[sql.Composable]) -> None:
    if tables:
        cur.execute(sql.SQL("truncate table {}").format(sql.SQL(", ").join(tables)))

# ---------------------------------------------------------------------------------------------
# in-transaction path: truncate, COPY, keys and indexes dropped and rebuilt
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Deferred:
    """Keys, foreign keys and secondary indexes dropped before a bulk COPY and rebuilt after it."""

    keys: list[tuple[str, str, str]]  # (table, constraint, definition): primary keys, unique constraints
    foreign_keys: list[tuple[str, str, str]]
    indexes: list[tuple[str, str]]  # (index, definition)


def defer_constraints(cur: psycopg2.extensions.cursor, tables: list[str]) -> Deferred:
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
    return Deferred(keys, fks, indexes)


def add_constraint(cur: psycopg2.extensions.cursor, table: sql.Composable, name: str, definition: str) -> None:
    # definitions come from pg_get_constraintdef: server-generated text
    cur.execute(
        sql.SQL("alter table {} add constraint {} ").format(table, sql.Identifier(name)) + sql.SQL(definition)
    )


def restore_constraints(cur: psycopg2.extensions.cursor, deferred: Deferred) -> None:
    for table, name, definition in deferred.keys:
        add_constraint(cur, sql.Identifier(table), name, definition)
    for _, definition in deferred.indexes:
        cur.execute(definition)
    for table, name, definition in deferred.foreign_keys:
        add_constraint(cur, sql.Identifier(table), name, definition)

# ---------------------------------------------------------------------------------------------
# swap path: staging table loaded and indexed outside the transaction, swapped in inside it
# ---------------------------------------------------------------------------------------------
_INDEX_DEF = re.compile(r"^CREATE (UNIQUE )?INDEX \S+ ON (?:ONLY )?\S+ (USING .+)$", re.DOTALL)


@dataclass
class Swap:
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
    #: application_name of the connections that load and index the staging table
    application_name: str = "storeml-bulk-load"
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


def plan_swap(
    cur: psycopg2.extensions.cursor, database: str, table: str, df: pl.DataFrame, *, application_name: str
) -> Swap | None:
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
    swap = Swap(database, schema, table, df, [by_name[c] for c in df.columns if c in by_name],
                application_name=application_name)
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


def create_staging(cur: psycopg2.extensions.cursor, swap: Swap) -> None:
    cur.execute(sql.SQL("drop table if exists {}").format(swap.staging()))
    # autovacuum stays off while the staging table fills (it would vacuum the committed chunks
    # alongside the load); the swap resets it, leaving the original (empty) storage parameters
    cur.execute(
        sql.SQL("create table {} (like {} including all excluding indexes) with ({})").format(
            swap.staging(), swap.target(), _NO_AUTOVACUUM)
    )


def drop_staging(url: str, swaps: list[Swap]) -> None:
    """Drop the staging tables (after a failure), best effort."""
    if not swaps:
        return
    with (
        contextlib.suppress(Exception),
        connection(url, autocommit=True, application_name=swaps[0].application_name) as conn,
        conn.cursor() as cur,
    ):
        for swap in swaps:
            cur.execute(sql.SQL("drop table if exists {}").format(swap.staging()))


def _copy_chunk(url: str, swap: Swap, offset: int, length: int) -> None:
    """COPY rows ``offset .. offset+length`` into the staging table, on a connection of its own."""
    chunk = swap.frame.slice(offset, length)
    if swap.binary:
        data = conform_to_table(chunk.to_arrow(), swap.columns, f"{swap.database}.{swap.table}")
        with adbc_connection(url, swap.application_name) as conn, conn.cursor() as cur:
            cur.execute("set local synchronous_commit = off")
            cur.adbc_ingest(swap.load_table, data, mode="append", db_schema_name=swap.schema)
            conn.commit()
        return
    with connection(url, application_name=swap.application_name) as conn, conn.cursor() as cur:
        cur.execute("set local synchronous_commit = off")
        copy_frame(cur, swap.staging(), chunk)


def _build_index(url: str, application_name: str, statement: sql.Composable) -> None:
    with connection(url, autocommit=True, application_name=application_name) as conn, conn.cursor() as cur:
        cur.execute("set maintenance_work_mem = %s", (INDEX_BUILD_MEMORY,))
        cur.execute("set synchronous_commit = off")
        cur.execute(statement)


def _swap_in(cur: psycopg2.extensions.cursor, swap: Swap) -> None:
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

class TableError(Exception):
    """A task failed: ``where`` names the table or step, ``cause`` is the original error."""

    def __init__(self, where: str, exc: BaseException) -> None:
        super().__init__(where)
        self.where = where
        self.cause = exc


# ---------------------------------------------------------------------------------------------
# a small scheduler: tasks with dependencies and priorities on a fixed number of threads
# ---------------------------------------------------------------------------------------------
@dataclass(eq=False)
class Task:
    where: str
    run: Callable[[], None]
    cost: float  # estimated work (row units), for priorities
    after: list[Task] = field(default_factory=list)
    first: bool = False  # start before any other task (indivisible chains)
    done: bool = False
    priority: float = 0.0


#: estimated work per row, relative to a binary COPY
COST_CSV_ROW = 1.4
COST_INDEX_ROW = 0.6
COST_FOREIGN_KEY_ROW = 0.3


def prioritize(tasks: list[Task]) -> None:
    """Priority = the task's cost plus the costliest chain after it (critical path first)."""
    successors: dict[int, list[Task]] = {id(t): [] for t in tasks}
    for task in tasks:
        for dep in task.after:
            successors[id(dep)].append(task)
    done: dict[int, float] = {}

    def chain(task: Task) -> float:
        if id(task) not in done:
            done[id(task)] = task.cost + max((chain(s) for s in successors[id(task)]), default=0.0)
        return done[id(task)]

    for task in tasks:
        task.priority = chain(task) + (1e15 if task.first else 0.0)


def run_tasks(tasks: list[Task], workers: int,
               timeline: list[tuple[str, float, float]] | None = None) -> None:
    """Run every task after its dependencies, highest priority first; raise the first failure.

    After a failure no new task starts; the running ones finish, then ``TableError`` is raised.
    """
    prioritize(tasks)
    cond = threading.Condition()
    pending = list(tasks)
    ready: list[tuple[float, int, Task]] = []
    running = 0
    failure: list[TableError] = []

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
            except TableError as exc:
                error: TableError | None = exc
            except Exception as exc:
                error = TableError(task.where, exc)
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
def load_database(
    conn: psycopg2.extensions.connection,
    database: str,
    tables: dict[str, pl.DataFrame],
    swaps: list[Swap],
    bulk_threshold: int,
    on_table: OnTable,
) -> None:
    """Drop the swapped tables, truncate and COPY the others, inside the open transaction."""
    with conn.cursor() as cur:
        cur.execute("set local synchronous_commit = off")
        cur.execute("set local maintenance_work_mem = '1GB'")
        for swap in swaps:
            cur.execute(sql.SQL("lock table {} in access exclusive mode").format(swap.target()))
            cur.execute(sql.SQL("drop table {}").format(swap.target()))
        big = sum(df.height for df in tables.values()) >= bulk_threshold
        deferred = defer_constraints(cur, list(tables)) if big and tables else None
        truncate(cur, [sql.Identifier(t) for t in tables])
        for table, df in tables.items():
            started = time.perf_counter()
            try:
                copy_frame(cur, sql.Identifier(table), df)
            except Exception as exc:
                raise TableError(f"{database}.{table}", exc) from exc
            on_table(database, table, df.height, started)
        if deferred is not None:
            started = time.perf_counter()
            try:
                restore_constraints(cur, deferred)
            except Exception as exc:
                raise TableError(f"{database} (indexes and foreign keys)", exc) from exc
            on_table(database, "(keys, indexes, foreign keys)", 0, started)


def finish_database(
    conn: psycopg2.extensions.connection,
    database: str,
    swaps: list[Swap],
    on_table: OnTable,
) -> None:
    """Swap the built staging tables in, then add their foreign keys (validated)."""
    started = time.perf_counter()
    with conn.cursor() as cur:
        for swap in swaps:
            try:
                _swap_in(cur, swap)
            except Exception as exc:
                raise TableError(f"{database}.{swap.table} (swap)", exc) from exc
        for swap in swaps:
            for name, definition in swap.foreign_keys:
                try:
                    add_constraint(cur, swap.target(), name, definition)
                except Exception as exc:
                    raise TableError(f"{database}.{swap.table} (foreign keys)", exc) from exc
    on_table(database, "(swap)", 0, started)



def run_chunk(url: str, swap: Swap, offset: int, length: int,
               on_table: OnTable) -> None:
    with swap.lock:
        if not swap.started:
            swap.started = time.perf_counter()
    _copy_chunk(url, swap, offset, length)
    with swap.lock:
        swap.chunks_left -= 1
        last = swap.chunks_left == 0
    if last:
        on_table(swap.database, swap.table, swap.frame.height, swap.started)


def timed_build(url: str, swap: Swap, statement: sql.Composable,
                 on_table: OnTable) -> None:
    started = time.perf_counter()
    _build_index(url, swap.application_name, statement)
    on_table(swap.database, f"({swap.table} index)", 0, started)


def database_tasks(
    database: str,
    conn: psycopg2.extensions.connection,
    url: str,
    tables: dict[str, pl.DataFrame],
    swaps: list[Swap],
    on_table: OnTable,
    *,
    bulk_threshold: int,
    chunk_rows: int,
) -> list[Task]:
    """One database's task graph: staging chunks -> index builds -> swap, its transaction alongside.

    ``conn`` holds the database's open transaction; ``swaps`` (planned on it, staging tables
    created) are loaded outside it on connections to ``url``; the other ``tables`` load inside
    it. The transaction starts first (one long chain that cannot be split), the divisible
    staging work fills in behind it, longest remaining chain first.
    """
    tasks: list[Task] = []
    swapped = {s.table for s in swaps}
    rest = {t: df for t, df in tables.items() if t not in swapped}
    rows = sum(df.height for df in rest.values())
    start = Task(database, lambda: load_database(conn, database, rest, swaps, bulk_threshold, on_table),
                 cost=rows * (COST_CSV_ROW + (2 * COST_INDEX_ROW if rows >= bulk_threshold else 0.0)), first=True)
    tasks.append(start)
    builds: list[Task] = []
    for swap in swaps:
        where = f"{database}.{swap.table}"
        chunks = []
        swap.chunks_left = -(-swap.frame.height // chunk_rows)
        for offset in range(0, swap.frame.height, chunk_rows):
            length = min(chunk_rows, swap.frame.height - offset)
            chunks.append(Task(where, lambda swap=swap, offset=offset, length=length: run_chunk(  # type: ignore[misc]
                url, swap, offset, length, on_table),
                cost=length * (1.0 if swap.binary else COST_CSV_ROW)))
        for temporary, statement in swap.builds:
            builds.append(Task(f"{where} (index {temporary})",
                               lambda swap=swap, statement=statement: timed_build(  # type: ignore[misc]
                                   url, swap, statement, on_table),
                               cost=swap.frame.height * COST_INDEX_ROW, after=chunks))
        tasks.extend(chunks)
    tasks.extend(builds)
    if swaps:
        tasks.append(Task(f"{database} (swap)", lambda: finish_database(conn, database, swaps, on_table),
                          cost=sum(s.frame.height * len(s.foreign_keys) for s in swaps) * COST_FOREIGN_KEY_ROW,
                          after=[start, *builds]))
    return tasks
