"""The warehouse integrity rules against a real Postgres: pass on good data, name planted bad rows."""

from collections.abc import Iterator
from decimal import Decimal

import psycopg2
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storeml_assets.db.urls import sqlalchemy_url
from storeml_assets.io.postgres_io_manager import store_frame
from storeml_assets.warehouse import integrity
from storeml_assets.warehouse import transform as tf
from storeml_assets_tests.sources.plans import per_row_subqueries, plans_of
from storeml_assets_tests.warehouse import rawdata as raw

WH = "warehouse"


def _load_good_warehouse(url: str) -> None:
    transactions = tf.build_transactions(raw.orders(), raw.order_items(), raw.payments())
    frames = {
        "customers": tf.build_customers(raw.users()),
        "products": tf.build_products(raw.products(), raw.categories()),
        # the timeframe covers all three days of the tiny data
        "timeframe": tf.build_timeframe(*tf.timeframe_bounds(raw.orders()["ordered_at"], raw.DAY0, raw.DAY0)),
        "transactions": transactions,
        "sales": tf.build_sales(raw.order_items(), transactions, raw.products()),
    }
    for table, frame in frames.items():
        store_frame(url, WH, table, frame)


def _execute(url: str, statement: str) -> None:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


@pytest.fixture
def warehouse_url(fresh_db: str) -> str:
    _load_good_warehouse(fresh_db)
    return fresh_db


@pytest.fixture
def conn_factory(warehouse_url: str) -> Iterator[object]:
    engine = sa.create_engine(sqlalchemy_url(warehouse_url))

    def connect() -> Connection:
        return engine.connect()

    try:
        yield connect
    finally:
        engine.dispose()


def _all_rules(conn: Connection) -> dict[str, integrity.Violations]:
    return {
        "line": integrity.check_line_totals(conn),
        "amount": integrity.check_transaction_amounts(conn),
        "sale_tx": integrity.check_reference(
            conn, "sales", "transaction_id", "transactions", "transaction_id", "sale_id"
        ),
        "sale_sku": integrity.check_reference(
            conn, "sales", "product_sku", "products", "product_sku", "sale_id"
        ),
        "tx_customer": integrity.check_reference(
            conn, "transactions", "customer_id", "customers", "customer_id", "transaction_id"
        ),
        "tx_time": integrity.check_reference(
            conn, "transactions", "time_id", "timeframe", "time_id", "transaction_id"
        ),
        "pk_sales": integrity.check_primary_key(conn, "sales", "sale_id"),
        "pk_transactions": integrity.check_primary_key(conn, "transactions", "transaction_id"),
    }


def test_every_rule_passes_on_good_data(conn_factory) -> None:  # type: ignore[no-untyped-def]
    with conn_factory() as conn:
        results = _all_rules(conn)
    for name, found in results.items():
        assert found.passed, (name, found.description, found.sample)
        assert found.checked_rows > 0, name
    assert results["line"].checked_rows == 6
    assert results["amount"].checked_rows == 4


def test_wrong_line_total_fails_both_line_and_amount_rules(warehouse_url: str, conn_factory) -> None:  # type: ignore[no-untyped-def]
    _execute(warehouse_url, "update warehouse.sales set line_total = line_total + 0.01 where sale_id = 2")
    with conn_factory() as conn:
        results = _all_rules(conn)
    assert results["line"].count == 1
    assert results["line"].sample == [
        {"sale_id": 2, "quantity": 3, "unit_price": "0.99", "line_total": "2.98", "expected": "2.97"}
    ]
    assert results["amount"].count == 1
    assert results["amount"].sample == [
        {"transaction_id": 1001, "transaction_amount": "12.97", "lines_total": "12.98"}
    ]
    assert all(found.passed for name, found in results.items() if name not in {"line", "amount"})


def test_null_quantity_is_a_line_violation(warehouse_url: str, conn_factory) -> None:  # type: ignore[no-untyped-def]
    _execute(warehouse_url, "update warehouse.sales set quantity = null where sale_id in (1, 3)")
    with conn_factory() as conn:
        found = integrity.check_line_totals(conn)
    assert found.count == 2
    assert [row["sale_id"] for row in found.sample] == [1, 3]


def test_dangling_keys_are_counted_with_a_sample(warehouse_url: str, conn_factory) -> None:  # type: ignore[no-untyped-def]
    ts = raw.at(0, 12).isoformat()
    _execute(
        warehouse_url,
        "insert into warehouse.sales (sale_id, transaction_id, product_sku, quantity, unit_price, line_total, "
        f"transaction_ts) values (90, 9999, 'NOPE', 1, 1.00, 1.00, '{ts}'), "
        f"(91, 1001, null, 1, 1.00, 1.00, '{ts}')",
    )
    _execute(
        warehouse_url,
        "insert into warehouse.transactions (transaction_id, customer_id, time_id, transaction_amount, channel, "
        f"payment_type, order_id, discount_amount, transaction_ts) values (7777, 999, 19990101, 0, 'web', "
        f"'paypal', 77, 0, '{ts}')",
    )
    with conn_factory() as conn:
        results = _all_rules(conn)
    assert results["sale_tx"].count == 1
    assert results["sale_tx"].sample == [{"sale_id": 90, "transaction_id": 9999}]
    assert results["sale_sku"].count == 2
    assert results["sale_sku"].sample == [
        {"sale_id": 90, "product_sku": "NOPE"},
        {"sale_id": 91, "product_sku": None},
    ]
    assert results["tx_customer"].count == 1
    assert results["tx_customer"].sample == [{"transaction_id": 7777, "customer_id": 999}]
    assert results["tx_time"].count == 1
    assert results["tx_time"].sample == [{"transaction_id": 7777, "time_id": 19990101}]
    # sale 91 adds 1.00 to transaction 1001; 7777 has amount 0 and no lines, which is consistent
    assert results["amount"].count == 1
    assert results["amount"].sample[0]["transaction_id"] == 1001
    assert results["line"].passed


def test_sample_is_capped_but_count_is_complete(warehouse_url: str, conn_factory) -> None:  # type: ignore[no-untyped-def]
    _execute(warehouse_url, "update warehouse.sales set product_sku = 'GONE'")
    _execute(
        warehouse_url, "insert into warehouse.sales select * from warehouse.sales"
    )  # 12 rows, all dangling
    with conn_factory() as conn:
        found = integrity.check_reference(conn, "sales", "product_sku", "products", "product_sku", "sale_id")
        pk = integrity.check_primary_key(conn, "sales", "sale_id")
    assert found.count == 12 and len(found.sample) == integrity.SAMPLE_SIZE
    assert pk.count == 12
    assert pk.sample[0] == {"key": 1, "n": 2} and len(pk.sample) == 6


def test_amount_mismatch_to_the_cent(warehouse_url: str, conn_factory) -> None:  # type: ignore[no-untyped-def]
    _execute(
        warehouse_url,
        "update warehouse.transactions set transaction_amount = 3.48 where transaction_id = 1005",
    )
    with conn_factory() as conn:
        found = integrity.check_transaction_amounts(conn)
    assert found.count == 1
    assert found.sample == [{"transaction_id": 1005, "transaction_amount": "3.48", "lines_total": "3.49"}]
    assert Decimal(found.sample[0]["lines_total"]) - Decimal(
        found.sample[0]["transaction_amount"]
    ) == Decimal("0.01")


def test_missing_table_fails_and_is_named(warehouse_url: str, conn_factory) -> None:  # type: ignore[no-untyped-def]
    _execute(warehouse_url, "drop table warehouse.timeframe")
    with conn_factory() as conn:
        found = integrity.check_reference(
            conn, "transactions", "time_id", "timeframe", "time_id", "transaction_id"
        )
    assert not found.passed
    assert found.missing_table == "warehouse.timeframe"
    assert "does not exist" in found.description


def test_rules_are_set_based_with_no_subquery_per_row(warehouse_url: str) -> None:
    """Every rule runs as joins and aggregates the planner can hash, so it scales with the facts."""
    engine = sa.create_engine(sqlalchemy_url(warehouse_url))
    try:
        plans = plans_of(engine, _all_rules)
    finally:
        engine.dispose()
    assert len(plans) >= 8
    assert per_row_subqueries(plans) == []
