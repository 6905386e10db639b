"""The warehouse star schema as pure polars transforms over the extracted ``raw`` tables.

Nothing here knows about Dagster or Postgres; every function takes and returns polars frames.

Semantics:

* A *customer* is a storefront account (``raw.users``), whether or not it ever bought.
* A *product* is keyed by its SKU (``raw.products.sku``); ``category`` is the category's name.
* A *transaction* is one order with a successful payment: orders whose payment failed (order
  status ``payment_failed``, or no payment with status ``success``) are excluded. Its id is the
  successful payment's ``transaction_id`` (the earliest one if an order has several), its
  ``transaction_amount`` the sum of its lines' ``line_total`` (before discount, to the cent),
  and ``discount_amount`` the order's discount, so the amount paid is the difference.
  ``transaction_ts`` is the order time (UTC); ``time_id`` is its date as ``yyyymmdd``.
* A *sale* is one order line of a transaction; ``sale_id`` is the ``order_item_id``.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

#: numeric(12, 2), the warehouse's money type.
MONEY = pl.Decimal(12, 2)
#: Revenue aggregated over many lines (numeric(18, 2)).
REVENUE = pl.Decimal(18, 2)
UTC = "UTC"

CUSTOMER_COLUMNS = ("customer_id", "first_name", "last_name", "dob", "phone", "email")
PRODUCT_COLUMNS = ("product_sku", "product_name", "category", "brand", "price")
TIMEFRAME_COLUMNS = ("time_id", "date", "day", "month", "year")
TRANSACTION_COLUMNS = (
    "transaction_id",
    "customer_id",
    "time_id",
    "transaction_amount",
    "channel",
    "payment_type",
    "order_id",
    "discount_amount",
    "transaction_ts",
)
SALE_COLUMNS = (
    "sale_id",
    "transaction_id",
    "product_sku",
    "quantity",
    "unit_price",
    "line_total",
    "transaction_ts",
)
TOP_PRODUCT_COLUMNS = (
    "rank",
    "product_sku",
    "product_name",
    "category",
    "brand",
    "units",
    "revenue",
    "transactions",
    "revenue_share",
    "category_rank",
    "category_revenue",
    "category_units",
    "window_start",
    "window_end",
)

#: Raw columns each transform reads (the assets ask the IO manager for only these).
RAW_USERS_COLUMNS = ("user_id", "first_name", "last_name", "dob", "phone", "email")
RAW_PRODUCTS_COLUMNS = ("product_id", "sku", "name", "category_id", "brand", "price")
RAW_CATEGORIES_COLUMNS = ("category_id", "name")
RAW_ORDERS_COLUMNS = ("order_id", "user_id", "ordered_at", "status", "channel", "discount_amount")
RAW_ORDER_ITEMS_COLUMNS = ("order_item_id", "order_id", "product_id", "quantity", "unit_price", "line_total")
RAW_PAYMENTS_COLUMNS = ("transaction_id", "order_id", "payment_type", "status", "processed_at")

PAYMENT_SUCCESS = "success"
ORDER_PAYMENT_FAILED = "payment_failed"


def require_columns(frame: pl.DataFrame, name: str, columns: tuple[str, ...] | list[str]) -> None:
    """Raise a one-line ``ValueError`` naming the frame and the columns it lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} frame lacks column(s) {', '.join(missing)} (has: {', '.join(frame.columns)})"
        )


def _utc(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A timestamp column as ``Datetime(us, UTC)``; naive timestamps are taken to be UTC."""
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        return expr.dt.convert_time_zone(UTC).dt.cast_time_unit("us")
    if isinstance(dtype, pl.Datetime):
        return expr.dt.cast_time_unit("us").dt.replace_time_zone(UTC)
    raise ValueError(f"expected a timestamp column, got {dtype}")


def time_id_of(expr: pl.Expr) -> pl.Expr:
    """``yyyymmdd`` as Int64 of a date or UTC timestamp expression."""
    return (
        expr.dt.year().cast(pl.Int64) * 10_000 + expr.dt.month().cast(pl.Int64) * 100 + expr.dt.day()
    ).cast(pl.Int64)


# ---------------------------------------------------------------------------------------------
# dimensions
# ---------------------------------------------------------------------------------------------
def build_customers(users: pl.DataFrame) -> pl.DataFrame:
    """One row per storefront account: ``raw.users`` renamed to the warehouse columns."""
    require_columns(users, "users", RAW_USERS_COLUMNS)
    return (
        users.select(
            pl.col("user_id").cast(pl.Int64).alias("customer_id"),
            pl.col("first_name").cast(pl.String),
            pl.col("last_name").cast(pl.String),
            pl.col("dob").cast(pl.Date),
            pl.col("phone").cast(pl.String),
            pl.col("email").cast(pl.String),
        )
        .unique("customer_id", keep="first", maintain_order=True)
        .sort("customer_id")
    )


def build_products(products: pl.DataFrame, categories: pl.DataFrame) -> pl.DataFrame:
    """One row per SKU with its category's name; a product of an unknown category keeps a null one."""
    require_columns(products, "products", RAW_PRODUCTS_COLUMNS)
    require_columns(categories, "categories", RAW_CATEGORIES_COLUMNS)
    names = categories.select(
        pl.col("category_id").cast(pl.Int64), pl.col("name").cast(pl.String).alias("category")
    )
    return (
        products.with_columns(pl.col("category_id").cast(pl.Int64))
        .join(names, on="category_id", how="left")
        .select(
            pl.col("sku").cast(pl.String).alias("product_sku"),
            pl.col("name").cast(pl.String).alias("product_name"),
            "category",
            pl.col("brand").cast(pl.String),
            pl.col("price").cast(MONEY),
        )
        .unique("product_sku", keep="first", maintain_order=True)
        .sort("product_sku")
    )


def build_timeframe(start: date, end: date) -> pl.DataFrame:
    """One row per calendar day from ``start`` to ``end`` inclusive (UTC dates)."""
    if end < start:
        raise ValueError(f"timeframe end {end} is before its start {start}")
    days = pl.date_range(start, end, interval="1d", eager=True).alias("date")
    frame = pl.DataFrame(days)
    return frame.select(
        time_id_of(pl.col("date")).alias("time_id"),
        "date",
        pl.col("date").dt.day().cast(pl.Int32).alias("day"),
        pl.col("date").dt.month().cast(pl.Int32).alias("month"),
        pl.col("date").dt.year().cast(pl.Int32).alias("year"),
    )


def timeframe_bounds(order_times: pl.Series | None, start: date, end: date) -> tuple[date, date]:
    """``[start, end]`` widened to cover every (UTC) date in ``order_times``."""
    if order_times is None or order_times.len() == order_times.null_count():
        return start, end
    dates = order_times.to_frame("t").select(_utc(pl.col("t"), order_times.dtype).dt.date())["t"]
    first, last = dates.min(), dates.max()
    assert isinstance(first, date) and isinstance(last, date)
    return min(start, first), max(end, last)


# ---------------------------------------------------------------------------------------------
# facts
# ---------------------------------------------------------------------------------------------
def successful_payments(payments: pl.DataFrame) -> pl.DataFrame:
    """The first successful payment of each order: ``order_id, transaction_id, payment_type``."""
    require_columns(payments, "transactions", RAW_PAYMENTS_COLUMNS)
    return (
        payments.filter(pl.col("status") == PAYMENT_SUCCESS)
        .sort("processed_at", "transaction_id", nulls_last=True)
        .unique("order_id", keep="first", maintain_order=True)
        .select(
            pl.col("order_id").cast(pl.Int64),
            pl.col("transaction_id").cast(pl.Int64),
            pl.col("payment_type").cast(pl.String),
        )
    )


#: Order statuses of orders that were never paid, when the storefront has no payments table.
UNPAID_STATUSES = ("payment_failed", "cancelled", "canceled")


def orders_as_payments(orders: pl.DataFrame) -> pl.DataFrame:
    """For a storefront without a payments table: every order not failed or cancelled counts as paid once,
    its ``transaction_id`` the ``order_id`` and its payment type unknown."""
    status = pl.col("status").cast(pl.String).str.strip_chars().str.to_lowercase()
    return orders.filter(status.is_null() | ~status.is_in(UNPAID_STATUSES)).select(
        pl.col("order_id").cast(pl.Int64),
        pl.col("order_id").cast(pl.Int64).alias("transaction_id"),
        pl.lit(None, dtype=pl.String).alias("payment_type"),
    )


def build_transactions(
    orders: pl.DataFrame,
    order_items: pl.DataFrame,
    transactions: pl.DataFrame,
    *,
    without_payments: bool = False,
    day_timezone: str = UTC,
) -> pl.DataFrame:
    """One row per order with a successful payment; amount = sum of its lines' ``line_total``.

    ``transactions`` are the source payments (``raw.transactions``); they may cover more orders
    than ``orders`` (e.g. one day more, for payments processed after midnight): only payments of
    the given orders are used. ``without_payments``: the storefront has no payments table, so
    :func:`orders_as_payments` stands in for them. ``time_id`` is the order's day in ``day_timezone``
    (the daily partitions' day boundary); ``transaction_ts`` stays UTC.
    """
    require_columns(orders, "orders", RAW_ORDERS_COLUMNS)
    require_columns(order_items, "order_items", ("order_id", "line_total"))
    paid = orders_as_payments(orders) if without_payments else successful_payments(transactions)
    amounts = (
        order_items.select(pl.col("order_id").cast(pl.Int64), pl.col("line_total").cast(MONEY))
        .group_by("order_id")
        .agg(pl.col("line_total").sum().alias("transaction_amount"))
    )
    ts = _utc(pl.col("ordered_at"), orders.schema["ordered_at"])
    return (
        orders.filter(pl.col("status") != ORDER_PAYMENT_FAILED)
        .select(
            pl.col("order_id").cast(pl.Int64),
            pl.col("user_id").cast(pl.Int64).alias("customer_id"),
            ts.alias("transaction_ts"),
            pl.col("channel").cast(pl.String),
            pl.col("discount_amount").cast(MONEY),
        )
        .join(paid, on="order_id", how="inner")
        .join(amounts, on="order_id", how="left")
        .select(
            "transaction_id",
            "customer_id",
            time_id_of(pl.col("transaction_ts").dt.convert_time_zone(day_timezone)).alias("time_id"),
            pl.col("transaction_amount").fill_null(0).cast(MONEY),
            "channel",
            "payment_type",
            "order_id",
            pl.col("discount_amount").fill_null(0),
            "transaction_ts",
        )
        .sort("transaction_id")
    )


def build_sales(
    order_items: pl.DataFrame, transactions: pl.DataFrame, products: pl.DataFrame
) -> pl.DataFrame:
    """One row per order line of a warehouse transaction, keyed by SKU.

    ``transactions`` is the warehouse frame of :func:`build_transactions` (``order_id``,
    ``transaction_id``, ``transaction_ts``); ``products`` the raw products (``product_id``,
    ``sku``). A line whose product is unknown keeps a null SKU (the key check reports it).
    """
    require_columns(order_items, "order_items", RAW_ORDER_ITEMS_COLUMNS)
    require_columns(transactions, "transactions", ("transaction_id", "order_id", "transaction_ts"))
    require_columns(products, "products", ("product_id", "sku"))
    skus = products.select(
        pl.col("product_id").cast(pl.Int64), pl.col("sku").cast(pl.String).alias("product_sku")
    )
    keys = transactions.select(
        pl.col("order_id").cast(pl.Int64),
        pl.col("transaction_id").cast(pl.Int64),
        _utc(pl.col("transaction_ts"), transactions.schema["transaction_ts"]),
    )
    return (
        order_items.with_columns(pl.col("order_id").cast(pl.Int64), pl.col("product_id").cast(pl.Int64))
        .join(keys, on="order_id", how="inner")
        .join(skus, on="product_id", how="left")
        .select(
            pl.col("order_item_id").cast(pl.Int64).alias("sale_id"),
            "transaction_id",
            "product_sku",
            pl.col("quantity").cast(pl.Int32),
            pl.col("unit_price").cast(MONEY),
            pl.col("line_total").cast(MONEY),
            "transaction_ts",
        )
        .sort("sale_id")
    )


# ---------------------------------------------------------------------------------------------
# analytics
# ---------------------------------------------------------------------------------------------
def _empty_top_products() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "rank": pl.Int32,
            "product_sku": pl.String,
            "product_name": pl.String,
            "category": pl.String,
            "brand": pl.String,
            "units": pl.Int64,
            "revenue": REVENUE,
            "transactions": pl.Int64,
            "revenue_share": pl.Float64,
            "category_rank": pl.Int32,
            "category_revenue": REVENUE,
            "category_units": pl.Int64,
            "window_start": pl.Date,
            "window_end": pl.Date,
        }
    )


def sales_window(sales: pl.DataFrame, window_days: int) -> tuple[date, date] | None:
    """The ``window_days`` UTC calendar days ending at the latest sale's date (inclusive)."""
    if window_days < 1:
        raise ValueError(f"window_days must be at least 1, got {window_days}")
    require_columns(sales, "sales", ("transaction_ts",))
    if sales.height == 0 or sales["transaction_ts"].null_count() == sales.height:
        return None
    latest = sales.select(
        _utc(pl.col("transaction_ts"), sales.schema["transaction_ts"]).max().dt.date()
    ).item()
    return latest - timedelta(days=window_days - 1), latest


def build_top_products(
    sales: pl.DataFrame, products: pl.DataFrame, window_days: int = 30, top_n: int = 0
) -> pl.DataFrame:
    """Revenue and units by product (with its category's totals) over the window ending at the last sale.

    Products are ranked by revenue, then units, then SKU; ``category_rank`` ranks them within
    their category the same way. ``top_n`` > 0 keeps only the first ``top_n`` products.
    """
    require_columns(
        sales, "sales", ("transaction_id", "product_sku", "quantity", "line_total", "transaction_ts")
    )
    require_columns(products, "products", ("product_sku", "product_name", "category", "brand"))
    if top_n < 0:
        raise ValueError(f"top_n must be 0 (all products) or positive, got {top_n}")
    window = sales_window(sales, window_days)
    if window is None:
        return _empty_top_products()
    start, end = window
    day = _utc(pl.col("transaction_ts"), sales.schema["transaction_ts"]).dt.date()
    by_product = (
        sales.filter(day.is_between(start, end, closed="both"))
        .group_by("product_sku")
        .agg(
            pl.col("quantity").cast(pl.Int64).sum().alias("units"),
            pl.col("line_total").cast(REVENUE).sum().cast(REVENUE).alias("revenue"),
            pl.col("transaction_id").n_unique().cast(pl.Int64).alias("transactions"),
        )
        .join(
            products.select("product_sku", "product_name", "category", "brand").unique("product_sku"),
            on="product_sku",
            how="left",
        )
        .sort(["revenue", "units", "product_sku"], descending=[True, True, False], nulls_last=True)
    )
    total = by_product["revenue"].cast(pl.Float64).sum()
    ranked = by_product.with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int32).alias("rank"),
        pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over("category").alias("category_rank"),
        pl.col("revenue").sum().over("category").cast(REVENUE).alias("category_revenue"),
        pl.col("units").sum().over("category").alias("category_units"),
        (pl.col("revenue").cast(pl.Float64) / total if total else pl.lit(0.0)).alias("revenue_share"),
        pl.lit(start).alias("window_start"),
        pl.lit(end).alias("window_end"),
    ).select(TOP_PRODUCT_COLUMNS)
    return ranked.head(top_n) if top_n else ranked
