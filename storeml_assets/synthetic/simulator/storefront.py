"""The storefront's own tables (random stream ``STREAM_STOREFRONT``): orders, order items,
payment transactions, and reviews (their text on its own stream, see ``reviews``) with the
planted truth of their sentiment (``review_sentiment``)."""

from __future__ import annotations

import numpy as np
import polars as pl

from storeml_assets.synthetic import vocab
from storeml_assets.synthetic.simulator import reviews
from storeml_assets.synthetic.simulator.catalogue import Catalog
from storeml_assets.synthetic.simulator.common import (
    STREAM_STOREFRONT,
    History,
    Rng,
    money,
    nullable_ids,
    pick,
    ts,
)
from storeml_assets.synthetic.simulator.config import CHANNELS, DAY, REVIEW_RATE
from storeml_assets.synthetic.simulator.customers import Customers
from storeml_assets.synthetic.simulator.orders import Orders
from storeml_assets.synthetic.simulator.promotions import PromoPlan


def storefront_tables(
    history: History, cat: Catalog, customers: Customers, orders: Orders, plan: PromoPlan,
    order_session: np.ndarray,
) -> dict[str, pl.DataFrame]:
    """``orders``, ``order_items``, ``transactions`` and ``reviews``."""
    rng = history.stream(STREAM_STOREFRONT)
    user_ids, order_ids, o_user, n_orders = customers.user_ids, orders.order_ids, orders.user, orders.n
    orders_frame = pl.DataFrame(
        {
            "order_id": order_ids,
            "user_id": user_ids[o_user],
            "session_id": order_session.astype(np.int64),
            "ordered_at": ts(orders.time),
            "status": orders.status,
            "channel": np.array(CHANNELS)[orders.channel],
            "subtotal_amount": money(orders.subtotal),
            "discount_amount": money(orders.discount),
            "total_amount": money(orders.total),
            "promo_code": pl.Series(np.array(plan.names)[orders.code_idx]).set(pl.Series(~orders.has_promo), None),
            "shipping_country": customers.country[o_user],
        }
    )
    order_items = pl.DataFrame(
        {
            "order_item_id": np.arange(1, orders.n_items + 1, dtype=np.int64),
            "order_id": order_ids[orders.it_order],
            "product_id": (orders.it_prod + 1).astype(np.int64),
            "variant_id": nullable_ids(orders.it_var),
            "quantity": orders.it_qty.astype(np.int32),
            "unit_price": money(orders.it_unit),
            "line_total": money(orders.it_line),
        }
    )
    pay_type = np.array(vocab.PAYMENT_TYPES)[pick(rng, np.cumsum(vocab.PAYMENT_WEIGHTS), n_orders)]
    reasons = np.array(vocab.FAILURE_REASONS)[rng.integers(0, len(vocab.FAILURE_REASONS), n_orders)]
    transactions = pl.DataFrame(
        {
            "transaction_id": order_ids.copy(),
            "order_id": order_ids,
            "user_id": user_ids[o_user],
            "amount": money(orders.total),
            "payment_type": pay_type,
            "status": np.where(orders.failed, "failed", "success"),
            "failure_reason": pl.Series(reasons).set(pl.Series(~orders.failed), None),
            "processed_at": ts(orders.time + rng.integers(1, 30, n_orders)),
        }
    )
    return {
        "orders": orders_frame,
        "order_items": order_items,
        "transactions": transactions,
        **dict(zip(("reviews", "review_sentiment"), _reviews(rng, history, cat, customers, orders), strict=True)),
    }


def _reviews(
    rng: Rng, history: History, cat: Catalog, customers: Customers, orders: Orders
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Delivered or returned order lines, one review per (user, product), after delivery; and their truth."""
    it_order, it_prod, o_user, status = orders.it_order, orders.it_prod, orders.user, orders.status
    n_products = len(cat.price_cents)
    reviewable = np.isin(status[it_order], ("delivered", "returned")) & (rng.random(orders.n_items) < REVIEW_RATE)
    r_item = np.nonzero(reviewable)[0]
    r_time = orders.time[it_order[r_item]] + rng.integers(4 * DAY, 25 * DAY, len(r_item))
    keep = r_time < history.end_ts
    r_item, r_time = r_item[keep], r_time[keep]
    r_key = o_user[it_order[r_item]].astype(np.int64) * n_products + it_prod[r_item]
    _, first_idx = np.unique(r_key, return_index=True)
    first_idx.sort()
    r_item, r_time = r_item[first_idx], r_time[first_idx]
    r_order = np.argsort(r_time, kind="stable")
    r_item, r_time = r_item[r_order], r_time[r_order]
    returned = status[it_order[r_item]] == "returned"
    score = 4.0 + cat.quality[it_prod[r_item]] + rng.normal(0, 1.0, len(r_item)) - 2.0 * returned
    rating = np.clip(np.round(score), 1, 5).astype(np.int16)
    return _reviews_frame(history, cat, r_item, r_time, rating, orders, customers.user_ids)


def _reviews_frame(
    history: History,
    cat: Catalog,
    r_item: np.ndarray,
    r_time: np.ndarray,
    rating: np.ndarray,
    orders: Orders,
    user_ids: np.ndarray,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The reviews, their text written by :mod:`~storeml_assets.synthetic.simulator.reviews` on its own
    stream, and ``ground_truth.review_sentiment``."""
    it_order = orders.it_order
    n = len(r_item)
    prod = orders.it_prod[r_item]
    category = np.array(cat.top_name_by_leaf, dtype=object)[cat.category_index[prod]] if n else np.array([], dtype=object)
    texts = reviews.write_reviews(history, category, cat.nouns[prod], rating, r_time)
    review_ids = np.arange(1, n + 1, dtype=np.int64)
    frame = pl.DataFrame(
        {
            "review_id": review_ids,
            "user_id": user_ids[orders.user[it_order[r_item]]],
            "product_id": (prod + 1).astype(np.int64),
            "order_id": orders.order_ids[it_order[r_item]],
            "rating": rating.astype(np.int16),
            "title": pl.Series(texts.titles, dtype=pl.String),
            "body": pl.Series(texts.bodies, dtype=pl.String),
            "is_verified_purchase": np.ones(n, dtype=bool),
            "created_at": ts(r_time),
        }
    )
    return frame, reviews.review_sentiment_truth(review_ids, rating, category, texts)
