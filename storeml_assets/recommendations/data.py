"""The recommender's data: implicit-feedback events, their weights, and the time split.

Events are the storefront's product interactions (views, clicks, cart adds, wishlists) and its purchases
(order lines of orders whose payment went through). ``user_interactions`` rows of type ``purchase`` are
dropped: the orders are the record of what was bought. An event weighs its strength
(:data:`INTERACTION_WEIGHTS`) times a recency decay (half-life :data:`RECENCY_HALF_LIFE_DAYS` before
the cutoff); a customer-product pair weighs the sum of its events.

The split: train on every event before the cutoff (:data:`HOLDOUT_DAYS` before the newest event), score
each customer's purchases in the :data:`HOLDOUT_DAYS` after it. Recommendations exclude products the
customer already bought (the convention of a storefront's "you may also like": discovery, not
re-ordering), so the relevant products of a customer are those bought in the window that they had not
bought before the cutoff; customers with training history and at least one such purchase are scored.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from storeml_assets.lifecycle.generic import Prepared, Skip, require_rows

#: Strength of each kind of signal (a purchase says more than a view).
INTERACTION_WEIGHTS: dict[str, float] = {"view": 1.0, "click": 2.0, "add_to_cart": 4.0, "wishlist": 4.0,
                                         "purchase": 8.0}
#: An event this many days before the cutoff weighs half as much as one at the cutoff.
RECENCY_HALF_LIFE_DAYS = 60.0
#: The days after the cutoff whose purchases are scored (and the window of "recent" popularity).
HOLDOUT_DAYS = 14
#: A customer with an event in the last this many days is active (the output table covers them).
ACTIVE_DAYS = 90
#: Order statuses whose lines are not purchases.
NOT_PURCHASED = ("payment_failed", "cancelled")
#: Fewest training events, customers scored and products the family needs.
MIN_EVENTS = 1_000
MIN_SCORED_CUSTOMERS = 20
MIN_PRODUCTS = 20

EVENT_COLUMNS = ("customer_id", "product_id", "interaction_type", "occurred_at")


def events(frames: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """Every event: ``customer_id``, ``product_id``, ``interaction_type``, ``occurred_at`` (UTC)."""
    interactions = require_rows(frames, "user_interactions", 1, "recommendations need product interactions")
    orders = require_rows(frames, "orders", 1, "recommendations need orders")
    items = require_rows(frames, "order_items", 1, "recommendations need order lines")
    browsing = (
        interactions.filter(pl.col("interaction_type").is_in([k for k in INTERACTION_WEIGHTS if k != "purchase"]))
        .select(pl.col("user_id").cast(pl.Int64).alias("customer_id"), pl.col("product_id").cast(pl.Int64),
                pl.col("interaction_type").cast(pl.String), _utc(pl.col("occurred_at")).alias("occurred_at"))
    )
    paid = orders.filter(~pl.col("status").is_in(NOT_PURCHASED)).select(
        "order_id", pl.col("user_id").cast(pl.Int64).alias("customer_id"),
        _utc(pl.col("ordered_at")).alias("occurred_at"))
    purchases = (
        items.select("order_id", pl.col("product_id").cast(pl.Int64)).join(paid, on="order_id")
        .select("customer_id", "product_id", pl.lit("purchase").alias("interaction_type"), "occurred_at")
    )
    return pl.concat([browsing, purchases]).drop_nulls()


def _utc(column: pl.Expr) -> pl.Expr:
    """A timestamp column as UTC microseconds (naive timestamps are taken as UTC)."""
    return column.cast(pl.Datetime("us", "UTC"))


def weigh(frame: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """``frame`` with ``weight``: the event's strength times its recency decay at ``as_of``."""
    age_days = (pl.lit(as_of, dtype=pl.Datetime("us", "UTC")) - pl.col("occurred_at")).dt.total_seconds() / 86_400.0
    strength = pl.col("interaction_type").replace_strict(INTERACTION_WEIGHTS, default=0.0, return_dtype=pl.Float64)
    return frame.with_columns(weight=strength * (0.5 ** (age_days.clip(lower_bound=0.0) / RECENCY_HALF_LIFE_DAYS)))


def catalogue(frames: Mapping[str, pl.DataFrame], events_frame: pl.DataFrame) -> pl.DataFrame:
    """The products a recommendation may name: ``product_id``, ``category_id``, ``brand``, ``is_active``
    (the catalogue, plus any product seen in the events but missing from it, as active)."""
    products = frames.get("products")
    known = (products.select(pl.col("product_id").cast(pl.Int64), pl.col("category_id").cast(pl.Int64),
                             pl.col("brand").cast(pl.String), pl.col("is_active").cast(pl.Boolean).fill_null(True))
             if products is not None and products.height else
             pl.DataFrame(schema={"product_id": pl.Int64, "category_id": pl.Int64, "brand": pl.String,
                                  "is_active": pl.Boolean}))
    seen = events_frame.select("product_id").unique().join(known, on="product_id", how="anti").with_columns(
        category_id=pl.lit(None, dtype=pl.Int64), brand=pl.lit(None, dtype=pl.String), is_active=pl.lit(True))
    return pl.concat([known, seen]).unique("product_id").sort("product_id")


def prepare(frames: Mapping[str, pl.DataFrame], seed: int) -> Prepared:
    """Train on the events before the cutoff; hold out the new purchases of the 14 days after it."""
    every = events(frames)
    if every.height < MIN_EVENTS:
        raise Skip(f"interaction events has {every.height} rows < {MIN_EVENTS} (recommendations need "
                   "product interactions and purchases)")
    newest = every.get_column("occurred_at").max()
    assert isinstance(newest, datetime)
    cutoff = newest - timedelta(days=HOLDOUT_DAYS)
    train = weigh(every.filter(pl.col("occurred_at") < cutoff), cutoff)
    window = every.filter((pl.col("occurred_at") >= cutoff) & (pl.col("interaction_type") == "purchase"))
    bought = train.filter(pl.col("interaction_type") == "purchase").select("customer_id", "product_id").unique()
    known = train.select("customer_id").unique()
    relevant = (window.select("customer_id", "product_id").unique()
                .join(bought, on=["customer_id", "product_id"], how="anti")
                .join(known, on="customer_id", how="semi"))
    scored = relevant.get_column("customer_id").n_unique()
    if scored < MIN_SCORED_CUSTOMERS:
        raise Skip(f"customers with new purchases in the {HOLDOUT_DAYS} days after {cutoff:%Y-%m-%d} has {scored} "
                   f"rows < {MIN_SCORED_CUSTOMERS} (recommendations need purchases to score)")
    products = catalogue(frames, every)
    if products.height < MIN_PRODUCTS:
        raise Skip(f"products has {products.height} rows < {MIN_PRODUCTS} (recommendations need a catalogue)")
    cold = window.select("customer_id").unique().join(known, on="customer_id", how="anti").height
    extra: dict[str, Any] = {
        "cutoff": cutoff,
        "products": products,
        "bought": bought,
        "window_purchases": window.select("customer_id", "product_id"),
        "cold_customers": cold,
        "truth": oracle_truth(frames),
        "recent": every.filter(pl.col("occurred_at") >= cutoff),
    }
    first = train.get_column("occurred_at").min()
    return Prepared(train=train, holdout=relevant, training_rows=train.height, window=(first, cutoff), extra=extra)


def oracle_truth(frames: Mapping[str, pl.DataFrame]) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """``(customer_taste, product_appeal)`` when the simulator planted them, else None."""
    taste, appeal = frames.get("customer_taste"), frames.get("product_appeal")
    if taste is None or appeal is None or not taste.height or not appeal.height:
        return None
    return taste, appeal
