"""A rebuild replaces, it never empties first: a crash mid-rebuild leaves the previous content in place.

The demo (its source stages only) builds storefront A, then rebuilds for storefront B while a
trigger makes the write of ``raw.transactions`` fail, as a crash mid-COPY does: that table keeps
A's rows. The tables written before the failure were replaced whole, so a row of an earlier
storefront dated outside the new history does not survive beside the new ones.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg2
import pytest
from rich.console import Console

from storeml_assets.demo import Demo
from storeml_assets.keys import MARTS_JOB, MONITORING_JOB_NAME, RETRAINING_JOB_NAME
from storeml_assets.settings import Settings

FAIL_INSERTS = """
create function raw.fail_insert() returns trigger language plpgsql as
$$ begin raise exception 'injected crash while writing %', tg_table_name; end $$;
create trigger injected_crash before insert on raw.transactions for each row execute function raw.fail_insert();
"""


class SourcesDemo(Demo):
    """The demo's source stages (simulate, dimensions, events) without marts, training and monitoring."""

    def run_job(self, name: str, **kwargs: Any) -> None:
        if name not in (MARTS_JOB, RETRAINING_JOB_NAME, MONITORING_JOB_NAME):
            super().run_job(name, **kwargs)


def _demo(seed: int) -> SourcesDemo:
    return SourcesDemo(Settings.from_env(), Console(file=io.StringIO()), scale="tiny", drift=False, seed=seed)


def _query(url: str, sql: str) -> list[tuple[object, ...]]:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall()) if cur.description else []
    finally:
        conn.close()


@pytest.fixture
def demo_env(isolated_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    # the demo points this process at its Dagster instance; restore the environment afterwards
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "unused"))
    return isolated_env


@pytest.mark.slow
def test_a_failed_rebuild_keeps_the_previous_content(demo_env: dict[str, str]) -> None:
    storeml = demo_env["storeml"]
    _demo(seed=1).run()
    before = {
        table: _query(storeml, f"select count(*), sum(hashtext(t::text)) from raw.{table} t")[0]
        for table in ("transactions", "orders")
    }
    assert before["transactions"][0] > 0

    # a row of an earlier storefront, dated before the simulated history
    _query(
        storeml,
        "insert into raw.orders select * from raw.orders where order_id = (select min(order_id) from raw.orders)",
    )
    _query(storeml, "update raw.orders set ordered_at = '2026-01-02', order_id = -1 where ctid = (select max(ctid) from raw.orders)")
    _query(storeml, FAIL_INSERTS)

    second = _demo(seed=2)
    with pytest.raises(RuntimeError, match="injected crash while writing transactions"):
        second.run()
    # the table whose write failed still holds storefront A's rows, all of them
    assert _query(storeml, "select count(*), sum(hashtext(t::text)) from raw.transactions t")[0] == before["transactions"]
    instance = dg.DagsterInstance.get()
    try:
        assert not instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        # the tables now hold two storefronts, and their metadata says which
        simulation_b = second.report.runs[0][1]
        generations = {}
        for table in ("orders", "transactions"):
            event = instance.get_latest_materialization_event(dg.AssetKey(["raw", table]))
            assert event is not None and event.asset_materialization is not None
            generations[table] = event.asset_materialization.metadata["storefront_generation"].value
        assert generations["orders"] == simulation_b
        assert generations["transactions"] != simulation_b
    finally:
        instance.dispose()

    # raw.orders, written before the failure, is storefront B's whole table: the earlier row is gone
    assert _query(storeml, "select count(*) from raw.orders where order_id = -1") == [(0,)]
    source_orders = _query(demo_env["storefront_db"], "select count(*) from orders")[0][0]
    assert _query(storeml, "select count(*) from raw.orders")[0][0] == source_orders
    assert _query(storeml, "select count(*), sum(hashtext(t::text)) from raw.orders t")[0] != before["orders"]
