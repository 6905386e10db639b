"""The demand series: daily units ordered per leaf category (``category:<id>``) and per top-N product
(``product:<id>``), on a gap-free daily calendar.

Demand is units ordered (``order_items.quantity`` of every order, whatever its payment or delivery
became): what the storefront must stock. A day without a sale of a series is a zero, and a day
without any order at all (a gap in the data) is filled with zeros too: the series stay regular, and
:class:`Series` says how many days were filled so a reader knows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from storeml_assets.lifecycle.generic import Skip

#: Days forecast ahead, and the length of each backtest window.
HORIZON = 28
#: Backtest windows (rolling origins, one horizon apart) the metrics are measured on.
BACKTEST_WINDOWS = 3
#: Windows before the backtest the first backtest origin may choose its models on.
SELECTION_WINDOWS = 1
#: Weekly seasonality of daily data.
SEASON_LENGTH = 7
#: The fewest days of history the backtest needs: one season of fitting beyond its windows.
MIN_DAYS = (BACKTEST_WINDOWS + SELECTION_WINDOWS) * HORIZON + 4 * SEASON_LENGTH


@dataclass
class Series:
    """Long frame ``(unique_id, ds, y)`` of every series over every day, and what building it did."""

    frame: pl.DataFrame
    first_day: date
    last_day: date
    #: Days within [first_day, last_day] without any order at all, filled with zeros.
    filled_days: list[date] = field(default_factory=list)
    #: Series whose every day is zero (forecast as zeros, left out of the scaled metrics).
    zero_series: list[str] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return sorted(self.frame.get_column("unique_id").unique().to_list())

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


def order_lines(frames: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """(ds, product_id, category_id, quantity) of every order line, from raw orders, items and products."""
    for table in ("orders", "order_items", "products"):
        if table not in frames:
            raise Skip(f"{table} is missing (demand forecasting needs orders, order items and products)")
    orders = frames["orders"].select("order_id", pl.col("ordered_at").dt.date().alias("ds"))
    items = frames["order_items"].select("order_id", "product_id", pl.col("quantity").cast(pl.Float64))
    products = frames["products"].select("product_id", "category_id")
    lines = items.join(orders, on="order_id", how="inner").join(products, on="product_id", how="left")
    return lines.filter(pl.col("ds").is_not_null() & pl.col("quantity").is_not_null())


def top_products(lines: pl.DataFrame, n: int, until: date | None = None) -> list[int]:
    """The ``n`` products with the most units ordered (before ``until`` when given), best first."""
    window = lines if until is None else lines.filter(pl.col("ds") < until)
    ranked = (window.group_by("product_id").agg(pl.col("quantity").sum())
              .sort(["quantity", "product_id"], descending=[True, False]))
    return [int(p) for p in ranked.head(n).get_column("product_id").to_list()]


def build_series(lines: pl.DataFrame, products: list[int], categories: list[int] | None = None,
                 last_day: date | None = None) -> Series:
    """Daily units per leaf category (every category in ``categories``, else every one with an order line)
    and per product of ``products``, zero-filled over the whole calendar of the lines."""
    if lines.is_empty():
        raise Skip("orders have no lines (demand forecasting needs order items)")
    first = lines.get_column("ds").min()
    last = last_day or lines.get_column("ds").max()
    assert isinstance(first, date) and isinstance(last, date)
    calendar = pl.DataFrame({"ds": pl.date_range(first, last, interval="1d", eager=True)})
    seen = set(lines.get_column("ds").unique().to_list())
    filled = [d for d in calendar.get_column("ds").to_list() if d not in seen]
    if categories is None:
        categories = sorted(int(c) for c in lines.get_column("category_id").drop_nulls().unique().to_list())
    by_category = (lines.filter(pl.col("category_id").is_not_null())
                   .group_by(pl.format("category:{}", pl.col("category_id")).alias("unique_id"), "ds")
                   .agg(pl.col("quantity").sum().alias("y")))
    by_product = (lines.filter(pl.col("product_id").is_in(products))
                  .group_by(pl.format("product:{}", pl.col("product_id")).alias("unique_id"), "ds")
                  .agg(pl.col("quantity").sum().alias("y")))
    ids = pl.DataFrame({"unique_id": [f"category:{c}" for c in categories] + [f"product:{p}" for p in products]})
    frame = (ids.join(calendar, how="cross")
             .join(pl.concat([by_category, by_product]), on=["unique_id", "ds"], how="left")
             .with_columns(pl.col("y").fill_null(0.0).cast(pl.Float64))
             .sort("unique_id", "ds"))
    totals = frame.group_by("unique_id").agg(pl.col("y").abs().sum())
    zeros = sorted(totals.filter(pl.col("y") == 0).get_column("unique_id").to_list())
    return Series(frame, first, last, filled, zeros)


def day_after(day: date, days: int = 1) -> date:
    return day + timedelta(days=days)
