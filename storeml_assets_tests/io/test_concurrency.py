"""Concurrency: parallel partition writers, and readers during atomic replaces."""

import threading
import time
from typing import Any

import dagster as dg
import pandas as pd
import polars as pl
import psycopg2
import pytest

from storeml_assets.io.postgres_io_manager import load_frame, store_frame
from storeml_assets_tests.io.helpers import KINDS, frame_of, materialize, query, source_asset


@pytest.mark.parametrize("kind", KINDS)
def test_concurrent_writes_of_different_partitions_of_a_new_table(fresh_db: str, kind: str) -> None:
    regions = ["eu", "us", "apac"]
    gate = threading.Barrier(len(regions))

    def rows(ctx: dg.AssetExecutionContext) -> Any:
        gate.wait(timeout=30)  # all runs reach the IO manager together, the table does not exist yet
        return frame_of(kind, {"region": [ctx.partition_key] * 1000, "qty": list(range(1000))})

    src = source_asset(
        ["sales", "parallel"],
        kind,
        rows,
        partitions_def=dg.StaticPartitionsDefinition(regions),
        metadata={"partition_expr": "region"},
    )
    errors: list[BaseException] = []

    def run(key: str) -> None:
        try:
            materialize([src], fresh_db, partition_key=key)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(key,)) for key in regions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert dict(query(fresh_db, "select region, count(*) from sales.parallel group by region")) == {
        region: 1000 for region in regions
    }


def test_reader_never_sees_partial_or_empty_table_during_replaces(fresh_db: str) -> None:
    n_rows = 20_000
    frame = pl.DataFrame({"id": range(n_rows), "name": [f"n{i}" for i in range(n_rows)]})
    src = source_asset(["rt", "hot"], "polars", lambda _: frame)
    materialize([src], fresh_db)

    stop = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def reader() -> None:
        conn = psycopg2.connect(fresh_db)
        conn.autocommit = True
        try:
            i = 0
            while not stop.is_set():
                if i % 4 == 3:  # also through the IO manager's own read path
                    seen.append(len(load_frame(fresh_db, "rt", "hot", "polars", ["id"])))
                else:
                    with conn.cursor() as cur:
                        cur.execute("select count(*) from rt.hot")
                        seen.append(cur.fetchone()[0])
                i += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            conn.close()

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for thread in readers:
        thread.start()
    try:
        for _ in range(6):
            materialize([src], fresh_db)
    finally:
        stop.set()
        for thread in readers:
            thread.join(timeout=60)
    assert not errors, errors
    assert len(seen) > 12
    assert set(seen) == {n_rows}


def test_reader_inside_a_transaction_keeps_the_old_table_until_it_finishes(fresh_db: str) -> None:
    store_frame(fresh_db, "rt", "pinned", pd.DataFrame({"v": [1, 2, 3]}))
    reader = psycopg2.connect(fresh_db)
    try:
        with reader.cursor() as cur:
            cur.execute("select count(*) from rt.pinned")
            assert cur.fetchone() == (3,)
            done = threading.Event()
            writer = threading.Thread(
                target=lambda: (store_frame(fresh_db, "rt", "pinned", pd.DataFrame({"v": [9]})), done.set())
            )
            writer.start()
            time.sleep(0.5)
            assert not done.is_set()  # the swap waits for the open reader
            cur.execute("select sum(v) from rt.pinned")
            assert cur.fetchone() == (6,)
        reader.commit()
        writer.join(timeout=30)
        assert done.is_set()
    finally:
        reader.close()
    assert query(fresh_db, "select v from rt.pinned") == [(9,)]


def test_concurrent_writes_of_the_same_partition_leave_one_copy(fresh_db: str) -> None:
    state: dict[str, Any] = {"gate": None}

    def rows(ctx: dg.AssetExecutionContext) -> Any:
        if state["gate"] is not None:
            state["gate"].wait(timeout=30)
        return frame_of("polars", {"region": [ctx.partition_key] * 5000, "qty": list(range(5000))})

    src = source_asset(
        ["sales", "same"],
        "polars",
        rows,
        partitions_def=dg.StaticPartitionsDefinition(["eu"]),
        metadata={"partition_expr": "region"},
    )
    materialize([src], fresh_db, partition_key="eu")  # the table exists: writers take delete + append
    state["gate"] = threading.Barrier(3)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            materialize([src], fresh_db, partition_key="eu")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert query(fresh_db, "select count(*) from sales.same") == [(5000,)]
