"""The bulk-load machinery on tables of its own (nothing of the storefront): the task scheduler,
and a database's load with one table swapped in through a staging table, on real Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import polars as pl
import psycopg2.extensions
import pytest

from storeml_assets.db.bulk_load import (
    LOAD_SUFFIX,
    TableError,
    Task,
    create_staging,
    database_tasks,
    drop_staging,
    plan_swap,
    run_tasks,
)
from storeml_assets.db.locator import connect, connection

APP = "storeml-test-bulk-load"

SCHEMA = """
create table parent (id bigint primary key, name text not null);
create table child (
    id bigint primary key,
    parent_id bigint not null references parent (id),
    code text not null unique,
    kind text not null check (kind in ('a', 'b')),
    amount numeric(12, 2),
    at timestamptz not null
);
create index child_at_idx on child (at);
create function child_noop() returns trigger language plpgsql as $$ begin return new; end $$;
create trigger child_touch before update on child for each row execute function child_noop();
insert into parent values (1, 'old');
insert into child values (1, 1, 'old-1', 'a', 1.00, now());
"""


def _task(ran: list[str], name: str, cost: float, after: list[Task] | None = None, first: bool = False) -> Task:
    return Task(name, lambda: ran.append(name), cost=cost, after=after or [], first=first)


def test_tasks_run_after_their_dependencies_longest_chain_first() -> None:
    ran: list[str] = []
    a = _task(ran, "a", 1)
    b = _task(ran, "b", 10)
    c = _task(ran, "c", 100, after=[a])
    d = _task(ran, "d", 1, first=True)
    run_tasks([a, b, c, d], workers=1)
    # d is marked first; a leads the costliest chain (a -> c: 101) so it beats b (10)
    assert ran == ["d", "a", "c", "b"]
    assert all(t.done for t in (a, b, c, d))


def test_first_failure_stops_new_tasks_and_names_the_task() -> None:
    ran: list[str] = []

    def fail() -> None:
        raise ValueError("broken chunk")

    boom = Task("db.table (chunk)", fail, cost=100)
    later = _task(ran, "later", 1)
    dependent = _task(ran, "dependent", 1, after=[boom])
    with pytest.raises(TableError) as info:
        run_tasks([boom, later, dependent], workers=1)
    assert info.value.where == "db.table (chunk)"
    assert isinstance(info.value.cause, ValueError)
    assert ran == []


def _frames(n: int, duplicate_code: bool = False) -> dict[str, pl.DataFrame]:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    parent = pl.DataFrame({"id": [10, 20], "name": ["ten", "twenty"]})
    child = pl.DataFrame(
        {
            "id": list(range(1, n + 1)),
            "parent_id": [10 if i % 2 else 20 for i in range(n)],
            "code": ["same" if duplicate_code else f"code-{i}" for i in range(n)],
            "kind": ["a" if i % 3 else "b" for i in range(n)],
            "amount": pl.Series([Decimal(i) / 4 for i in range(n)], dtype=pl.Decimal(12, 2)),
            "at": [at + timedelta(minutes=i) for i in range(n)],
        }
    )
    return {"parent": parent, "child": child}


def _schema(cur: psycopg2.extensions.cursor) -> list[tuple[str, str]]:
    cur.execute(
        "select indexname, indexdef from pg_indexes where schemaname = 'public'"
        " union all select conname, pg_get_constraintdef(oid) from pg_constraint"
        " where connamespace = 'public'::regnamespace"
        " union all select tgname, pg_get_triggerdef(oid) from pg_trigger where not tgisinternal"
        " union all select relname, relkind::text || coalesce(reloptions::text, '') from pg_class"
        " where relnamespace = 'public'::regnamespace"
        " order by 1, 2"
    )
    return cur.fetchall()


def _load(url: str, frames: dict[str, pl.DataFrame], loaded: list[tuple[str, int]]) -> None:
    """One database's load as the simulator's loader runs it: plan, stage, run, commit."""
    conn = connect(url, application_name=APP)
    swaps = []
    try:
        with conn.cursor() as cur:
            for table, df in frames.items():
                swap = plan_swap(cur, "testdb", table, df, application_name=APP)
                if swap is not None:
                    swaps.append(swap)
                    create_staging(cur, swap)
        conn.commit()
        assert [s.table for s in swaps] == ["child"]  # parent is referenced: it loads in the transaction
        tasks = database_tasks("testdb", conn, url, frames, swaps,
                               lambda db, table, rows, started: loaded.append((table, rows)),
                               bulk_threshold=0, chunk_rows=7)
        run_tasks(tasks, workers=2)
        conn.commit()
    except Exception:
        conn.rollback()
        drop_staging(url, swaps)
        raise
    finally:
        conn.close()


def test_swapped_table_replaces_contents_and_keeps_its_schema(fresh_db: str) -> None:
    with connection(fresh_db) as conn, conn.cursor() as cur:
        cur.execute(SCHEMA)
        schema_before = _schema(cur)
    frames = _frames(30)
    loaded: list[tuple[str, int]] = []
    _load(fresh_db, frames, loaded)

    assert ("child", 30) in loaded and ("parent", 2) in loaded
    with connection(fresh_db) as conn, conn.cursor() as cur:
        assert _schema(cur) == schema_before
        cur.execute("select id, parent_id, code, kind, amount, at from child order by id")
        rows = cur.fetchall()
        cur.execute("select count(*) from pg_class where relname like %s", (f"%{LOAD_SUFFIX}%",))
        assert cur.fetchone() == (0,)
    assert rows == list(frames["child"].iter_rows())


def test_failed_index_build_leaves_previous_contents_and_no_staging_table(fresh_db: str) -> None:
    with connection(fresh_db) as conn, conn.cursor() as cur:
        cur.execute(SCHEMA)
        schema_before = _schema(cur)
    with pytest.raises(TableError, match=r"testdb\.child \(index "):
        _load(fresh_db, _frames(30, duplicate_code=True), [])
    with connection(fresh_db) as conn, conn.cursor() as cur:
        assert _schema(cur) == schema_before
        cur.execute("select (select array_agg(name) from parent), (select array_agg(code) from child)")
        assert cur.fetchone() == (["old"], ["old-1"])
