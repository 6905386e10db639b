"""The storefront's own tables (random stream ``STREAM_STOREFRONT``): orders, order items,
payment transactions, and reviews whose text carries the rating's sentiment."""

from __future__ import annotations

import numpy as np
import polars as pl

from storeml_assets.synthetic import vocab
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
        "reviews": _reviews(rng, history, cat, customers, orders),
    }


def _reviews(rng: Rng, history: History, cat: Catalog, customers: Customers, orders: Orders) -> pl.DataFrame:
    """Delivered or returned order lines, one review per (user, product), after delivery."""
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
    return _reviews_frame(rng, cat, r_item, r_time, rating, orders, customers.user_ids)


def _reviews_frame(
    rng: Rng,
    cat: Catalog,
    r_item: np.ndarray,
    r_time: np.ndarray,
    rating: np.ndarray,
    orders: Orders,
    user_ids: np.ndarray,
) -> pl.DataFrame:
    it_order = orders.it_order
    n = len(r_item)
    sentiment = np.where(rating <= 2, "negative", np.where(rating == 3, "neutral", "positive"))
    titles = np.empty(n, dtype=object)
    bodies = np.empty(n, dtype=object)
    prod = orders.it_prod[r_item]
    pick_ = rng.integers(0, 1_000_000, (n, 3))
    for cls in ("negative", "neutral", "positive"):
        idx = np.nonzero(sentiment == cls)[0]
        t_bank = np.array(vocab.REVIEW_TITLES[cls], dtype=object)
        o_bank = vocab.REVIEW_OPENINGS[cls]
        c_bank = np.array(vocab.REVIEW_CLOSINGS[cls], dtype=object)
        titles[idx] = t_bank[pick_[idx, 0] % len(t_bank)]
        opening = [o_bank[k % len(o_bank)].format(noun=noun) for k, noun in zip(pick_[idx, 1], cat.nouns[prod[idx]], strict=True)]
        bodies[idx] = np.char.add(np.char.add(np.array(opening, dtype=str), " "), c_bank[pick_[idx, 2] % len(c_bank)].astype(str)) if len(idx) else []
    return pl.DataFrame(
        {
            "review_id": np.arange(1, n + 1, dtype=np.int64),
            "user_id": user_ids[orders.user[it_order[r_item]]],
            "product_id": (prod + 1).astype(np.int64),
            "order_id": orders.order_ids[it_order[r_item]],
            "rating": rating.astype(np.int16),
            "title": pl.Series(titles.astype(str) if n else [], dtype=pl.String),
            "body": pl.Series(bodies.astype(str) if n else [], dtype=pl.String),
            "is_verified_purchase": np.ones(n, dtype=bool),
            "created_at": ts(r_time),
        }
    )
