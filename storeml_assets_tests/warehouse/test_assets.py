"""End to end: raw stub assets -> warehouse assets -> checks, through PostgresIOManager on a real Postgres."""

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import dagster as dg
import polars as pl
import psycopg2
import pytest

from storeml_assets.io import PostgresIOManager
from storeml_assets.partitions import DAILY_PARTITIONS
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets.warehouse.assets import (
    CUSTOMERS_KEY,
    PRODUCTS_KEY,
    SALES_KEY,
    TIMEFRAME_KEY,
    TOP_PRODUCTS_KEY,
    TRANSACTIONS_KEY,
    WAREHOUSE_ASSETS,
)
from storeml_assets.warehouse.checks import LINE_TOTAL_CHECK, WAREHOUSE_CHECKS
from storeml_assets_tests.conftest import PROJECT_ROOT
from storeml_assets_tests.warehouse import rawdata as raw

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def _raw_stub(
    table: str, make: Callable[[], pl.DataFrame], partition_column: str | None = None
) -> dg.AssetsDefinition:
    """A test-local stand-in for the extract asset of ``raw.<table>``."""

    @dg.asset(
        key=["raw", table],
        partitions_def=DAILY_PARTITIONS if partition_column else None,
        backfill_policy=dg.BackfillPolicy.single_run() if partition_column else None,
        metadata={"partition_expr": partition_column} if partition_column else None,
    )
    def _stub(context: dg.AssetExecutionContext) -> pl.DataFrame:
        frame = make()
        if partition_column:
            window = context.partition_time_window
            frame = frame.filter(pl.col(partition_column).is_between(window.start, window.end, closed="left"))
        return frame

    return _stub


RAW_DIMENSIONS = [
    _raw_stub("users", raw.users),
    _raw_stub("products", raw.products),
    _raw_stub("categories", raw.categories),
]
RAW_EVENTS = [
    _raw_stub("orders", raw.orders, "ordered_at"),
    _raw_stub("order_items", raw.order_items, "ordered_at"),
    _raw_stub("transactions", raw.payments, "processed_at"),
]
ALL = [*RAW_DIMENSIONS, *RAW_EVENTS, *WAREHOUSE_ASSETS, *WAREHOUSE_CHECKS]


def _keys(assets: list[dg.AssetsDefinition]) -> list[dg.AssetKey]:
    return [a.key for a in assets]


def _scalar(url: str, query: str) -> Any:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(query)
            return cur.fetchone()[0]  # type: ignore[index]
    finally:
        conn.close()


def _rows(url: str, query: str) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(query)
            return cur.fetchall()
    finally:
        conn.close()


class Runner:
    def __init__(self, url: str) -> None:
        self.instance = dg.DagsterInstance.ephemeral()
        self.resources = {"io_manager": PostgresIOManager(url=url), "storeml_db": PostgresResource(url=url)}

    def run(self, selection: Any, raise_on_error: bool = True, **kwargs: Any) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            ALL,
            selection=selection,
            resources=self.resources,
            instance=self.instance,
            raise_on_error=raise_on_error,
            **kwargs,
        )


def _meta(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict[str, Any]:
    # a single-run backfill records one materialization per partition, all with the run's metadata
    event = next(m for m in result.get_asset_materialization_events() if m.asset_key == key)
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _check_outcomes(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {
        f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed
        for e in result.get_asset_check_evaluations()
    }


@pytest.fixture
def built(fresh_db: str) -> tuple[str, Runner]:
    """Raw stubs for three days, the dimensions, and the facts of the first two days."""
    runner = Runner(fresh_db)
    dims = runner.run(_keys(RAW_DIMENSIONS) + [CUSTOMERS_KEY, PRODUCTS_KEY])
    assert all(_check_outcomes(dims).values()) and len(_check_outcomes(dims)) == 2
    runner.run(_keys(RAW_EVENTS), tags={RANGE_START: raw.key(0), RANGE_END: raw.key(2)})
    runner.run([TIMEFRAME_KEY])
    return fresh_db, runner


def test_warehouse_end_to_end_with_checks(built: tuple[str, Runner]) -> None:
    url, runner = built
    # day 0 alone: order 2's payment was processed after midnight (raw day 1) and is still found
    day0 = runner.run([TRANSACTIONS_KEY, SALES_KEY], partition_key=raw.key(0))
    assert _rows(url, "select transaction_id from warehouse.transactions order by 1") == [(1001,), (1002,)]
    assert all(_check_outcomes(day0).values())

    # days 0..1 as one single-run backfill: day 0 is replaced, not duplicated
    facts = runner.run([TRANSACTIONS_KEY, SALES_KEY], tags={RANGE_START: raw.key(0), RANGE_END: raw.key(1)})
    outcomes = _check_outcomes(facts)
    assert len(outcomes) == 8 and all(outcomes.values()), outcomes
    top = runner.run(
        [TOP_PRODUCTS_KEY], run_config={"ops": {"warehouse__top_products": {"config": {"window_days": 7}}}}
    )

    first, last = (
        DAILY_PARTITIONS.start.date(),
        date.fromisoformat(DAILY_PARTITIONS.get_last_partition_key() or ""),
    )
    counts = {
        table: _scalar(url, f"select count(*) from warehouse.{table}")
        for table in ("customers", "products", "timeframe", "transactions", "sales", "top_products")
    }
    assert counts == {
        "customers": 4,
        "products": 3,
        # the calendar runs from the first partition to December 31 of the year after the last one
        "timeframe": (date(max(last.year, date.today().year) + 1, 12, 31) - first).days + 1,
        "transactions": 3,
        "sales": 5,
        "top_products": 3,
    }
    assert _rows(
        url, "select transaction_id, transaction_amount, time_id from warehouse.transactions order by 1"
    ) == [
        (1001, Decimal("12.97"), raw.time_id(0)),
        (1002, Decimal("5.00"), raw.time_id(0)),
        (1005, Decimal("3.49"), raw.time_id(1)),
    ]
    assert _rows(url, "select product_sku, revenue, units from warehouse.top_products order by rank") == [
        ("SKU-A", Decimal("10.00"), 1),
        ("SKU-B", Decimal("7.50"), 3),
        ("SKU-C", Decimal("3.96"), 4),
    ]
    tx_meta = _meta(facts, TRANSACTIONS_KEY)
    assert tx_meta["transactions"] == 3 and tx_meta["orders_excluded"] == 1
    assert tx_meta["revenue_total"] == pytest.approx(21.46)
    assert tx_meta["date_range"] == f"{raw.DAY0}..{raw.DAY0 + timedelta(days=1)}"
    top_meta = _meta(top, TOP_PRODUCTS_KEY)
    assert top_meta["window"] == f"{raw.DAY0 - timedelta(days=5)}..{raw.DAY0 + timedelta(days=1)}"
    assert "SKU-A" in top_meta["top_products"]


def test_failing_check_reports_count_and_sample(built: tuple[str, Runner]) -> None:
    url, runner = built
    runner.run([TRANSACTIONS_KEY, SALES_KEY], tags={RANGE_START: raw.key(0), RANGE_END: raw.key(1)})
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("update warehouse.sales set line_total = 99.99 where sale_id = 5")
    conn.close()
    result = runner.run(
        dg.AssetSelection.checks(dg.AssetCheckKey(SALES_KEY, LINE_TOTAL_CHECK)), raise_on_error=False
    )
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert evaluation.metadata["violations"].value == 1
    assert evaluation.metadata["sample"].value == [
        {"sale_id": 5, "quantity": 1, "unit_price": "0.99", "line_total": "99.99", "expected": "0.99"}
    ]


#: What sql/storeml/002_warehouse.sql lacks for the facts' extra columns (transaction_ts is their
#: partition column). Until the DDL file carries them, a migrated database needs this delta.
FACT_DDL_DELTA = """
alter table warehouse.transactions add column if not exists order_id bigint;
alter table warehouse.transactions add column if not exists discount_amount numeric(12, 2);
alter table warehouse.transactions add column if not exists transaction_ts timestamptz;
alter table warehouse.sales add column if not exists transaction_ts timestamptz;
"""


def test_frames_fit_the_migrated_ddl(fresh_db: str) -> None:
    """Into tables created by the DDL contract (with primary keys): refilled in place, keys kept."""
    sql_dir = PROJECT_ROOT / "sql" / "storeml"
    conn = psycopg2.connect(fresh_db)
    with conn, conn.cursor() as cur:
        for name in ("001_schemas.sql", "002_warehouse.sql"):
            cur.execute((sql_dir / name).read_text())
        cur.execute(FACT_DDL_DELTA)
    conn.close()
    runner = Runner(fresh_db)
    runner.run(_keys(RAW_DIMENSIONS) + [CUSTOMERS_KEY, PRODUCTS_KEY])
    runner.run(_keys(RAW_EVENTS), tags={RANGE_START: raw.key(0), RANGE_END: raw.key(2)})
    runner.run([TIMEFRAME_KEY])
    for _ in range(2):  # twice: the second run replaces its partitions instead of breaking the keys
        facts = runner.run(
            [TRANSACTIONS_KEY, SALES_KEY], tags={RANGE_START: raw.key(0), RANGE_END: raw.key(1)}
        )
        assert all(_check_outcomes(facts).values())
    assert _scalar(fresh_db, "select count(*) from warehouse.transactions") == 3
    assert _scalar(fresh_db, "select sum(line_total) from warehouse.sales") == Decimal("21.46")
    primary_keys = _rows(
        fresh_db,
        "select c.relname from pg_constraint k join pg_class c on c.oid = k.conrelid "
        "join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'warehouse' and k.contype = 'p' "
        "and c.relname in ('customers', 'products', 'timeframe', 'transactions', 'sales') order by 1",
    )
    assert [r[0] for r in primary_keys] == ["customers", "products", "sales", "timeframe", "transactions"]
    first = DAILY_PARTITIONS.start.date()
    assert _rows(
        fresh_db, "select time_id, date, day, month, year from warehouse.timeframe order by 1 limit 1"
    ) == [(first.year * 10_000 + first.month * 100 + first.day, first, first.day, first.month, first.year)]


def test_asset_definitions_shape() -> None:
    by_key = {a.key: a for a in WAREHOUSE_ASSETS}
    assert set(by_key) == {
        CUSTOMERS_KEY,
        PRODUCTS_KEY,
        TIMEFRAME_KEY,
        TRANSACTIONS_KEY,
        SALES_KEY,
        TOP_PRODUCTS_KEY,
    }
    for key, asset in by_key.items():
        assert asset.group_names_by_key[key] == "warehouse"
        assert asset.descriptions_by_key[key] and "\n" not in asset.descriptions_by_key[key].strip()
        partitioned = key in (TRANSACTIONS_KEY, SALES_KEY)
        assert (asset.partitions_def is DAILY_PARTITIONS) == partitioned, key
        if partitioned:
            assert asset.metadata_by_key[key]["partition_expr"] == "transaction_ts"
            assert asset.backfill_policy == dg.BackfillPolicy.single_run()
    assert by_key[TRANSACTIONS_KEY].keys_by_input_name["payments"] == dg.AssetKey(["raw", "transactions"])
    fields = by_key[TOP_PRODUCTS_KEY].op.config_schema.as_field().config_type.fields  # type: ignore[union-attr]
    assert fields["window_days"].default_value == 30 and fields["window_days"].description
    checked = {spec.asset_key for check in WAREHOUSE_CHECKS for spec in check.check_specs}
    assert checked == set(by_key) - {TOP_PRODUCTS_KEY}
