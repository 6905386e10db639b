"""Pure polars transforms of the warehouse on tiny hand-made frames."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import polars as pl
import pytest

from storeml_assets.warehouse import transform as tf
from storeml_assets_tests.warehouse import rawdata as raw


def _transactions() -> pl.DataFrame:
    return tf.build_transactions(raw.orders(), raw.order_items(), raw.payments())


def test_customers_rename_users_and_keep_every_account() -> None:
    customers = tf.build_customers(raw.users())
    assert customers.columns == list(tf.CUSTOMER_COLUMNS)
    assert customers["customer_id"].to_list() == [1, 2, 3, 4]
    assert customers.row(0) == (1, "Ann", "Ames", date(1990, 1, 2), "+1 555 0101", "a@x.io")
    assert customers.row(1)[3:5] == (None, None)


def test_products_keyed_by_sku_with_category_name() -> None:
    products = tf.build_products(raw.products(), raw.categories())
    assert products.columns == list(tf.PRODUCT_COLUMNS)
    assert products.rows() == [
        ("SKU-A", "Runner", "Shoes", "Fleet", Decimal("10.00")),
        ("SKU-B", "Novel", "Books", "Inkwell", Decimal("2.50")),
        ("SKU-C", "Bookmark", "Books", "Inkwell", Decimal("0.99")),
    ]
    assert products.schema["price"] == tf.MONEY


def test_product_of_unknown_category_keeps_a_null_category() -> None:
    products = tf.build_products(raw.products(), raw.categories().filter(pl.col("category_id") == 10))
    assert products.filter(pl.col("product_sku") == "SKU-B")["category"].to_list() == [None]


def test_transactions_exclude_failed_payments_and_sum_lines_to_the_cent() -> None:
    t = _transactions()
    assert t.columns == list(tf.TRANSACTION_COLUMNS)
    # order 3 (payment failed) and nothing else is excluded; order 4 is paid on its second try
    assert t["transaction_id"].to_list() == [1001, 1002, 1005, 1006]
    by_id = {row["transaction_id"]: row for row in t.iter_rows(named=True)}
    assert by_id[1001]["transaction_amount"] == Decimal("12.97")  # 10.00 + 3 x 0.99, no float drift
    assert by_id[1002]["transaction_amount"] == Decimal("5.00")  # before the 1.00 discount
    assert by_id[1002]["discount_amount"] == Decimal("1.00")
    assert by_id[1005]["transaction_amount"] == Decimal("3.49")
    assert by_id[1005]["payment_type"] == "apple_pay"
    assert (by_id[1002]["customer_id"], by_id[1002]["channel"], by_id[1002]["order_id"]) == (2, "app", 2)
    assert t.schema["transaction_amount"] == tf.MONEY
    assert t.schema["transaction_ts"] == pl.Datetime("us", "UTC")


def test_time_id_is_the_utc_order_date_even_when_paid_after_midnight() -> None:
    t = _transactions()
    by_id = dict(zip(t["transaction_id"], t["time_id"], strict=True))
    assert by_id[1001] == by_id[1002] == raw.time_id(0)  # ordered 23:59:50, paid next day
    assert by_id[1005] == raw.time_id(1)
    assert t.schema["time_id"] == pl.Int64


def test_time_id_converts_other_time_zones_to_utc() -> None:
    orders = raw.orders().with_columns(pl.col("ordered_at").dt.convert_time_zone("America/New_York"))
    assert tf.build_transactions(orders, raw.order_items(), raw.payments())["time_id"].to_list() == (
        _transactions()["time_id"].to_list()
    )


def test_order_marked_payment_failed_is_excluded_even_with_a_success_row() -> None:
    orders = raw.orders().with_columns(
        pl.when(pl.col("order_id") == 1).then(pl.lit("payment_failed")).otherwise("status").alias("status")
    )
    assert 1001 not in tf.build_transactions(orders, raw.order_items(), raw.payments())["transaction_id"]


def test_payments_of_other_orders_are_ignored() -> None:
    day0 = raw.orders().filter(pl.col("ordered_at") < raw.at(1, 0))
    t = tf.build_transactions(day0, raw.order_items(), raw.payments())
    assert t["transaction_id"].to_list() == [1001, 1002]


def test_transaction_without_lines_has_amount_zero() -> None:
    items = raw.order_items().filter(pl.col("order_id") != 2)
    t = tf.build_transactions(raw.orders(), items, raw.payments())
    assert t.filter(pl.col("transaction_id") == 1002)["transaction_amount"].to_list() == [Decimal("0.00")]


def test_sales_are_lines_of_paid_orders_by_sku() -> None:
    t = _transactions()
    sales = tf.build_sales(raw.order_items(), t, raw.products())
    assert sales.columns == list(tf.SALE_COLUMNS)
    assert sales["sale_id"].to_list() == [1, 2, 3, 5, 6, 7]  # line 4 belongs to the failed order
    assert sales.row(1)[:6] == (2, 1001, "SKU-C", 3, Decimal("0.99"), Decimal("2.97"))
    lines = sales.group_by("transaction_id").agg(pl.col("line_total").sum()).sort("transaction_id")
    assert lines["line_total"].to_list() == t["transaction_amount"].to_list()
    assert sales.schema["quantity"] == pl.Int32


def test_sale_of_unknown_product_keeps_a_null_sku() -> None:
    sales = tf.build_sales(
        raw.order_items(), _transactions(), raw.products().filter(pl.col("product_id") != 101)
    )
    assert sales.filter(pl.col("sale_id") == 3)["product_sku"].to_list() == [None]


def test_timeframe_has_one_row_per_day() -> None:
    frame = tf.build_timeframe(date(2025, 12, 30), date(2026, 1, 2))
    assert frame.columns == list(tf.TIMEFRAME_COLUMNS)
    assert frame["time_id"].to_list() == [20251230, 20251231, 20260101, 20260102]
    assert frame.row(2) == (20260101, date(2026, 1, 1), 1, 1, 2026)
    with pytest.raises(ValueError, match="before its start"):
        tf.build_timeframe(date(2026, 1, 2), date(2026, 1, 1))


def test_timeframe_bounds_widen_to_order_dates() -> None:
    times = raw.orders()["ordered_at"]
    assert tf.timeframe_bounds(times, raw.DAY0 + timedelta(days=1), raw.DAY0 + timedelta(days=1)) == (
        raw.DAY0,
        raw.DAY0 + timedelta(days=2),
    )
    assert tf.timeframe_bounds(times.clear(), date(2026, 1, 1), date(2026, 1, 3)) == (
        date(2026, 1, 1),
        date(2026, 1, 3),
    )


def _sales(rows: list[tuple[int, str, int, str, datetime]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(t, s, q, Decimal(v), ts) for t, s, q, v, ts in rows],
        schema={
            "transaction_id": pl.Int64,
            "product_sku": pl.String,
            "quantity": pl.Int32,
            "line_total": tf.MONEY,
            "transaction_ts": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )


def _catalog() -> pl.DataFrame:
    return tf.build_products(raw.products(), raw.categories())


def test_top_products_rank_by_revenue_with_category_totals() -> None:
    sales = _sales(
        [
            (1, "SKU-A", 1, "10.00", raw.at(0, 9)),
            (1, "SKU-B", 4, "10.00", raw.at(0, 9)),  # same revenue as A, more units: ranks first
            (2, "SKU-C", 10, "9.90", raw.at(1, 9)),
            (3, "SKU-C", 1, "0.99", raw.at(2, 9)),
        ]
    )
    top = tf.build_top_products(sales, _catalog(), window_days=30)
    assert top.columns == list(tf.TOP_PRODUCT_COLUMNS)
    assert top["product_sku"].to_list() == ["SKU-C", "SKU-B", "SKU-A"]
    assert top["rank"].to_list() == [1, 2, 3]
    assert top["revenue"].to_list() == [Decimal("10.89"), Decimal("10.00"), Decimal("10.00")]
    assert top["units"].to_list() == [11, 4, 1]
    assert top["transactions"].to_list() == [2, 1, 1]
    assert top["category"].to_list() == ["Books", "Books", "Shoes"]
    assert top["category_rank"].to_list() == [1, 2, 1]
    assert top["category_revenue"].to_list() == [Decimal("20.89"), Decimal("20.89"), Decimal("10.00")]
    assert top["category_units"].to_list() == [15, 15, 1]
    assert top["revenue_share"].sum() == pytest.approx(1.0)
    assert top["revenue_share"][0] == pytest.approx(10.89 / 30.89)
    assert (top["window_start"][0], top["window_end"][0]) == (
        raw.DAY0 + timedelta(days=2 - 29),
        raw.DAY0 + timedelta(days=2),
    )


def test_top_products_window_ends_at_the_latest_sale() -> None:
    sales = _sales(
        [
            (1, "SKU-A", 5, "50.00", raw.at(0, 9)),  # outside a 2-day window ending on day 2
            (2, "SKU-B", 1, "2.50", raw.at(1, 0)),  # first instant of the window
            (3, "SKU-C", 1, "0.99", raw.at(2, 23, 59, 59)),
        ]
    )
    top = tf.build_top_products(sales, _catalog(), window_days=2)
    assert top["product_sku"].to_list() == ["SKU-B", "SKU-C"]
    assert (top["window_start"][0], top["window_end"][0]) == (
        raw.DAY0 + timedelta(days=1),
        raw.DAY0 + timedelta(days=2),
    )
    assert tf.build_top_products(sales, _catalog(), window_days=3)["product_sku"].to_list() == [
        "SKU-A",
        "SKU-B",
        "SKU-C",
    ]
    assert tf.build_top_products(sales, _catalog(), window_days=3, top_n=1)["product_sku"].to_list() == [
        "SKU-A"
    ]


def test_top_products_of_no_sales_is_empty_and_bad_knobs_are_named() -> None:
    empty = tf.build_top_products(_sales([]), _catalog())
    assert empty.height == 0 and empty.columns == list(tf.TOP_PRODUCT_COLUMNS)
    with pytest.raises(ValueError, match="window_days"):
        tf.build_top_products(_sales([]), _catalog(), window_days=0)
    with pytest.raises(ValueError, match="top_n"):
        tf.build_top_products(_sales([]), _catalog(), top_n=-1)


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match="orders frame lacks column\\(s\\) channel"):
        tf.build_transactions(raw.orders().drop("channel"), raw.order_items(), raw.payments())
