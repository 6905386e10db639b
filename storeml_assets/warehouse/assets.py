"""The warehouse star schema (group `warehouse`): customers, products, timeframe, transactions, sales,
and the `top_products` analytics table. Thin Dagster wiring over :mod:`storeml_assets.warehouse.transform`.

Facts (transactions, sales) are daily-partitioned like the raw event tables, on
``transaction_ts`` (the order time, UTC); dimensions and `top_products` are unpartitioned.
"""

import datetime as dt
from typing import Any

import dagster as dg
import polars as pl
from pydantic import Field

from storeml_assets import markdown
from storeml_assets.keys import (
    CUSTOMERS_KEY,
    PRODUCTS_KEY,
    SALES_KEY,
    TIMEFRAME_KEY,
    TOP_PRODUCTS_KEY,
    TRANSACTIONS_KEY,
    WAREHOUSE_GROUP,
    raw_key,
)
from storeml_assets.partitions import DAILY_PARTITIONS
from storeml_assets.settings import get_settings
from storeml_assets.warehouse import transform as tf

#: Event-time column of the partitioned facts (their ``partition_expr``).
TRANSACTION_TS = "transaction_ts"
TOP_ROWS_IN_METADATA = 10


_COMMON: dict[str, Any] = {
    "group_name": WAREHOUSE_GROUP,
    "kinds": {"polars", "postgres"},
    "owners": ["team:data-engineering"],
    "code_version": "1",
}
_FACT: dict[str, Any] = {
    **_COMMON,
    "partitions_def": DAILY_PARTITIONS,
    "backfill_policy": dg.BackfillPolicy.single_run(),
}


def _raw_in(table: str, columns: tuple[str, ...], **kwargs: Any) -> dg.AssetIn:
    return dg.AssetIn(key=raw_key(table), metadata={"columns": list(columns)}, **kwargs)


def _money(value: Any) -> float:
    return float(value) if value is not None else 0.0


def _date_range(frame: pl.DataFrame, column: str) -> str:
    if frame.height == 0:
        return "(empty)"
    days = frame.select(
        pl.col(column).min().dt.date().alias("a"), pl.col(column).max().dt.date().alias("b")
    ).row(0)
    return f"{days[0]}..{days[1]}"


def _markdown(frame: pl.DataFrame) -> str:
    return markdown.table(frame.iter_rows(), frame.columns)


# ---------------------------------------------------------------------------------------------
# dimensions
# ---------------------------------------------------------------------------------------------
@dg.asset(
    key=CUSTOMERS_KEY,
    ins={"users": _raw_in("users", tf.RAW_USERS_COLUMNS)},
    metadata={"primary_key": ["customer_id"]},
    **_COMMON,
)
def warehouse_customers(context: dg.AssetExecutionContext, users: pl.DataFrame) -> pl.DataFrame:
    """Customer dimension: every storefront account with name, birth date and contacts."""
    customers = tf.build_customers(users)
    context.add_output_metadata(
        {
            "customers": customers.height,
            "with_email": customers["email"].drop_nulls().len(),
            "with_phone": customers["phone"].drop_nulls().len(),
        }
    )
    return customers


@dg.asset(
    key=PRODUCTS_KEY,
    ins={
        "products": _raw_in("products", tf.RAW_PRODUCTS_COLUMNS),
        "categories": _raw_in("categories", tf.RAW_CATEGORIES_COLUMNS),
    },
    metadata={"primary_key": ["product_sku"]},
    **_COMMON,
)
def warehouse_products(
    context: dg.AssetExecutionContext, products: pl.DataFrame, categories: pl.DataFrame
) -> pl.DataFrame:
    """Product dimension: every SKU with its name, category, brand and list price."""
    result = tf.build_products(products, categories)
    context.add_output_metadata(
        {
            "products": result.height,
            "categories": result["category"].n_unique(),
            "brands": result["brand"].n_unique(),
            "without_category": result["category"].null_count(),
        }
    )
    return result


class TimeframeConfig(dg.Config):
    """The span of the calendar dimension."""

    start_date: str = Field(
        default="",
        description="First calendar day (YYYY-MM-DD); empty means the first daily partition.",
    )
    end_date: str = Field(
        default="",
        description="Last calendar day (YYYY-MM-DD); empty means December 31 of next year, so every "
        "order date a daily partition can hold already has its row.",
    )


def _config_date(value: str, default: dt.date, field: str) -> dt.date:
    if not value.strip():
        return default
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"timeframe config {field}={value!r} is not a YYYY-MM-DD date") from None


def _partitions_span() -> tuple[dt.date, dt.date]:
    """From the first daily partition to the end of next year (ahead of any partition's dates)."""
    first = DAILY_PARTITIONS.start.date()
    last_key = DAILY_PARTITIONS.get_last_partition_key()
    last = dt.date.fromisoformat(last_key) if last_key else first
    return first, dt.date(max(last.year, dt.date.today().year) + 1, 12, 31)


@dg.asset(
    key=TIMEFRAME_KEY,
    metadata={"primary_key": ["time_id"]},
    **_COMMON,
)
def warehouse_timeframe(context: dg.AssetExecutionContext, config: TimeframeConfig) -> pl.DataFrame:
    """Calendar dimension: one row per day (time_id = yyyymmdd), generated ahead of the facts."""
    first, last = _partitions_span()
    start = _config_date(config.start_date, first, "start_date")
    end = _config_date(config.end_date, last, "end_date")
    if end < start:
        raise ValueError(f"timeframe end_date {end} is before start_date {start}")
    result = tf.build_timeframe(start, end)
    context.add_output_metadata({"days": result.height, "date_range": f"{start}..{end}"})
    return result


# ---------------------------------------------------------------------------------------------
# facts
# ---------------------------------------------------------------------------------------------
@dg.asset(
    key=TRANSACTIONS_KEY,
    ins={
        "orders": _raw_in("orders", tf.RAW_ORDERS_COLUMNS),
        "order_items": _raw_in("order_items", ("order_id", "line_total")),
        # payments are processed seconds after the order: read one day more for those after midnight
        "payments": _raw_in(
            "transactions",
            tf.RAW_PAYMENTS_COLUMNS,
            partition_mapping=dg.TimeWindowPartitionMapping(
                start_offset=0, end_offset=1, allow_nonexistent_upstream_partitions=True
            ),
        ),
    },
    metadata={"partition_expr": TRANSACTION_TS, "primary_key": ["transaction_id"]},
    **_FACT,
)
def warehouse_transactions(
    context: dg.AssetExecutionContext, orders: pl.DataFrame, order_items: pl.DataFrame, payments: pl.DataFrame
) -> pl.DataFrame:
    """Transaction facts: one row per order with a successful payment, amount = sum of its lines."""
    # a real storefront may have no payments table (it reads as empty): then a non-cancelled order is a payment
    settings = get_settings()
    without_payments = settings.source_mode == "external" and payments.height == 0 and orders.height > 0
    if without_payments:
        context.log.info("no payments in the source: every order not failed or cancelled counts as paid")
    result = tf.build_transactions(orders, order_items, payments, without_payments=without_payments,
                                   day_timezone=settings.day_timezone)
    context.add_output_metadata(
        {
            "transactions": result.height,
            "orders_read": orders.height,
            "orders_excluded": orders.height - result.height,
            "revenue_total": _money(result["transaction_amount"].sum()),
            "discount_total": _money(result["discount_amount"].sum()),
            "customers": result["customer_id"].n_unique(),
            "date_range": _date_range(result, TRANSACTION_TS),
        }
    )
    return result


@dg.asset(
    key=SALES_KEY,
    ins={
        "order_items": _raw_in("order_items", tf.RAW_ORDER_ITEMS_COLUMNS),
        "transactions": dg.AssetIn(
            key=TRANSACTIONS_KEY, metadata={"columns": ["transaction_id", "order_id", TRANSACTION_TS]}
        ),
        "products": _raw_in("products", ("product_id", "sku")),
    },
    metadata={"partition_expr": TRANSACTION_TS, "primary_key": ["sale_id"]},
    **_FACT,
)
def warehouse_sales(
    context: dg.AssetExecutionContext,
    order_items: pl.DataFrame,
    transactions: pl.DataFrame,
    products: pl.DataFrame,
) -> pl.DataFrame:
    """Sales facts: one row per order line of a paid order, by product SKU, quantity and price."""
    result = tf.build_sales(order_items, transactions, products)
    context.add_output_metadata(
        {
            "sales_lines": result.height,
            "units": int(result["quantity"].sum() or 0),
            "revenue_total": _money(result["line_total"].sum()),
            "products_sold": result["product_sku"].n_unique(),
            "lines_without_sku": result["product_sku"].null_count(),
            "date_range": _date_range(result, TRANSACTION_TS),
        }
    )
    return result


# ---------------------------------------------------------------------------------------------
# analytics
# ---------------------------------------------------------------------------------------------
class TopProductsConfig(dg.Config):
    window_days: int = Field(
        default=30,
        ge=1,
        description="Length of the window in days, ending at the latest sale's date (inclusive).",
    )
    top_n: int = Field(
        default=0, ge=0, description="Keep only the best top_n products by revenue; 0 keeps all."
    )


@dg.asset(
    key=TOP_PRODUCTS_KEY,
    ins={
        "sales": dg.AssetIn(
            key=SALES_KEY,
            metadata={"columns": ["transaction_id", "product_sku", "quantity", "line_total", TRANSACTION_TS]},
        ),
        "products": dg.AssetIn(
            key=PRODUCTS_KEY, metadata={"columns": ["product_sku", "product_name", "category", "brand"]}
        ),
    },
    metadata={"primary_key": ["product_sku"]},
    **_COMMON,
)
def warehouse_top_products(
    context: dg.AssetExecutionContext, config: TopProductsConfig, sales: pl.DataFrame, products: pl.DataFrame
) -> pl.DataFrame:
    """Best sellers: revenue and units by product and category over the last window_days of sales."""
    result = tf.build_top_products(sales, products, config.window_days, config.top_n)
    meta: dict[str, Any] = {"products": result.height, "window_days": config.window_days}
    if result.height:
        meta |= {
            "window": f"{result['window_start'][0]}..{result['window_end'][0]}",
            "revenue_total": _money(result["revenue"].sum()),
            "units_total": int(result["units"].sum() or 0),
            "top_products": dg.MetadataValue.md(
                _markdown(
                    result.head(TOP_ROWS_IN_METADATA).select(
                        "rank", "product_sku", "product_name", "category", "units", "revenue"
                    )
                )
            ),
        }
    context.add_output_metadata(meta)
    return result


WAREHOUSE_ASSETS: list[dg.AssetsDefinition] = [
    warehouse_customers,
    warehouse_products,
    warehouse_timeframe,
    warehouse_transactions,
    warehouse_sales,
    warehouse_top_products,
]
