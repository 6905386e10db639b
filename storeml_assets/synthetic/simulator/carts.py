"""Carts and wishlists (random stream ``STREAM_CARTS``): a converted cart per order, a cart per
browse session that added to one, saved carts, wishlists, the read model of live carts and the
cross-service reference-validation log."""

from __future__ import annotations

import numpy as np
import polars as pl

from storeml_assets.synthetic.simulator.catalogue import Catalog, pick_variant
from storeml_assets.synthetic.simulator.common import (
    STREAM_CARTS,
    History,
    Rng,
    money,
    nullable_ids,
    ts,
)
from storeml_assets.synthetic.simulator.config import DAY
from storeml_assets.synthetic.simulator.customers import Customers
from storeml_assets.synthetic.simulator.orders import Orders
from storeml_assets.synthetic.simulator.sessions import Sessions


def cart_tables(
    history: History, cat: Catalog, customers: Customers, orders: Orders, sessions: Sessions
) -> dict[str, pl.DataFrame]:
    """Every ``cart_db`` table, in the order they load."""
    rng = history.stream(STREAM_CARTS)
    carts, cart_items = _carts(rng, history, cat, customers, orders, sessions)
    cart_view = _cart_view(carts, cart_items, customers.users, cat)
    saved_carts = _saved_carts(rng, carts, cart_items)
    wishlists, wishlist_items = _wishlists(rng, cat, customers, sessions)
    return {
        "carts": carts,
        "cart_items": cart_items,
        "wishlists": wishlists,
        "wishlist_items": wishlist_items,
        "saved_carts": saved_carts,
        "cart_view": cart_view,
        "reference_validation_log": _validation_log(rng, carts, cart_items),
    }


def _carts(
    rng: Rng, history: History, cat: Catalog, customers: Customers, orders: Orders, sessions: Sessions
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``carts`` (by creation time) and ``cart_items``."""
    n_orders, n_products, it_order = orders.n, len(cat.price_cents), orders.it_order
    browse, v_t = sessions.browse, sessions.v_t
    # converted carts: one per order, items = the order lines, added at their add_to_cart time
    first_item = np.cumsum(np.bincount(it_order, minlength=n_orders)) - np.bincount(it_order, minlength=n_orders)
    conv_created = sessions.it_cart_t[first_item]
    # browse carts: one per browse session with an add_to_cart, items = those products
    c_sess_of_view = browse.v_sess[browse.v_cart]
    c_key = c_sess_of_view.astype(np.int64) * n_products + browse.v_prod[browse.v_cart]
    c_key, c_first = np.unique(c_key, return_index=True)
    bc_sess = c_key // n_products
    bc_prod = c_key % n_products
    bc_time = (v_t + 60)[browse.v_cart][c_first]
    bc_sessions, bc_item_cart = np.unique(bc_sess, return_inverse=True)
    bc_created = np.full(len(bc_sessions), np.iinfo(np.int64).max)
    np.minimum.at(bc_created, bc_item_cart, bc_time)
    n_conv = n_orders
    n_bc = len(bc_sessions)
    cart_created = np.concatenate([conv_created, bc_created])
    cart_user = np.concatenate([orders.user, browse.user[bc_sessions]])
    cart_session = np.concatenate([sessions.order_session, sessions.browse_session[bc_sessions]]).astype(np.int64)
    cart_status = np.concatenate(
        [np.full(n_conv, "converted"), np.where(bc_created >= history.end_ts - 3 * DAY, "active", "abandoned")]
    )
    cart_conv_order = np.concatenate([orders.order_ids, np.zeros(n_bc, dtype=np.int64)])
    c_order = np.argsort(cart_created, kind="stable")
    c_rank = np.empty_like(c_order)
    c_rank[c_order] = np.arange(len(c_order))
    cart_id_of = c_rank + 1
    carts = pl.DataFrame(
        {
            "cart_id": np.arange(1, len(c_order) + 1, dtype=np.int64),
            "user_id": customers.user_ids[cart_user[c_order]],
            "session_id": cart_session[c_order],
            "status": cart_status[c_order],
            "converted_order_id": pl.Series(cart_conv_order[c_order], dtype=pl.Int64).set(
                pl.Series(cart_conv_order[c_order] == 0), None
            ),
            "created_at": ts(cart_created[c_order]),
        }
    )
    bc_var, bc_delta = pick_variant(rng, cat, bc_prod)
    ci_cart = np.concatenate([cart_id_of[:n_conv][it_order], cart_id_of[n_conv:][bc_item_cart]])
    ci_prod = np.concatenate([orders.it_prod, bc_prod])
    ci_var = np.concatenate([orders.it_var, bc_var])
    ci_qty = np.concatenate([orders.it_qty, np.ones(len(bc_prod), dtype=np.int64)])
    ci_unit = np.concatenate([orders.it_unit, cat.price_cents[bc_prod] + bc_delta])
    ci_added = np.concatenate([sessions.it_cart_t, bc_time])
    ci_order = np.lexsort((ci_added, ci_cart))
    cart_items = pl.DataFrame(
        {
            "cart_item_id": np.arange(1, len(ci_order) + 1, dtype=np.int64),
            "cart_id": ci_cart[ci_order].astype(np.int64),
            "product_id": (ci_prod[ci_order] + 1).astype(np.int64),
            "variant_id": nullable_ids(ci_var[ci_order]),
            "quantity": ci_qty[ci_order].astype(np.int32),
            "unit_price": money(ci_unit[ci_order]),
            "added_at": ts(ci_added[ci_order]),
        }
    )
    return carts, cart_items


def _cart_view(carts: pl.DataFrame, cart_items: pl.DataFrame, users: pl.DataFrame, cat: Catalog) -> pl.DataFrame:
    """The read model of live carts: one row per item, with its user and product."""
    live = carts.filter(pl.col("status") != "converted").select("cart_id", "status", "user_id")
    product_snap = cat.products.select(
        "product_id", "sku", "name", "brand", pl.col("category_id")
    ).join(cat.categories.select("category_id", pl.col("name").alias("category_name")), on="category_id", how="left")
    return (
        cart_items.join(live, on="cart_id", how="inner")
        .join(users.select("user_id", "email", "first_name", "last_name"), on="user_id", how="left")
        .join(product_snap, on="product_id", how="left")
        .sort("cart_item_id")
        .select(
            "cart_item_id",
            "cart_id",
            pl.col("status").alias("cart_status"),
            "user_id",
            pl.col("email").alias("user_email"),
            pl.col("first_name").alias("user_first_name"),
            pl.col("last_name").alias("user_last_name"),
            "product_id",
            pl.col("sku").alias("product_sku"),
            pl.col("name").alias("product_name"),
            pl.col("brand").alias("product_brand"),
            "category_name",
            "quantity",
            "unit_price",
            (pl.col("unit_price") * pl.col("quantity")).cast(pl.Decimal(12, 2)).alias("line_total"),
            "added_at",
        )
    )


def _saved_carts(rng: Rng, carts: pl.DataFrame, cart_items: pl.DataFrame) -> pl.DataFrame:
    """About 15 % of the abandoned carts, saved for later."""
    abandoned = carts.filter(pl.col("status") == "abandoned")
    saved_pick = abandoned.filter(pl.Series(rng.random(abandoned.height) < 0.15))
    totals = cart_items.group_by("cart_id").agg(
        pl.len().cast(pl.Int32).alias("item_count"),
        (pl.col("unit_price") * pl.col("quantity")).sum().cast(pl.Decimal(12, 2)).alias("total_value"),
    )
    return (
        saved_pick.join(totals, on="cart_id", how="left")
        .sort("cart_id")
        .select(
            pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("saved_cart_id"),
            "user_id",
            "cart_id",
            pl.lit("Saved for later").alias("name"),
            "item_count",
            "total_value",
            (pl.col("created_at") + pl.duration(minutes=10)).alias("saved_at"),
        )
    )


def _wishlists(rng: Rng, cat: Catalog, customers: Customers, sessions: Sessions) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One wishlist per user who wished for a product, its items from the wishlist interactions."""
    browse, v_t = sessions.browse, sessions.v_t
    n_products = len(cat.price_cents)
    w_user = browse.user[browse.v_sess[browse.v_wish]]
    w_prod = browse.v_prod[browse.v_wish]
    w_time = (v_t + 60 + 30 * browse.v_cart)[browse.v_wish]
    w_key = w_user.astype(np.int64) * n_products + w_prod
    w_order = np.lexsort((w_time, w_key))
    w_key_sorted = w_key[w_order]
    first_of_key = np.concatenate([[True], w_key_sorted[1:] != w_key_sorted[:-1]]) if len(w_key_sorted) else np.zeros(0, bool)
    wi_key = w_key_sorted[first_of_key]
    wi_time = w_time[w_order][first_of_key]
    wi_user = wi_key // n_products
    wi_prod = wi_key % n_products
    wl_users, wi_wl = np.unique(wi_user, return_inverse=True)
    wl_created = np.full(len(wl_users), np.iinfo(np.int64).max)
    np.minimum.at(wl_created, wi_wl, wi_time)
    wishlists = pl.DataFrame(
        {
            "wishlist_id": np.arange(1, len(wl_users) + 1, dtype=np.int64),
            "user_id": customers.user_ids[wl_users],
            "name": np.full(len(wl_users), "My wishlist"),
            "is_public": rng.random(len(wl_users)) < 0.2,
            "created_at": ts(wl_created),
        }
    )
    wishlist_items = pl.DataFrame(
        {
            "wishlist_item_id": np.arange(1, len(wi_key) + 1, dtype=np.int64),
            "wishlist_id": (wi_wl + 1).astype(np.int64),
            "product_id": (wi_prod + 1).astype(np.int64),
            "added_at": ts(wi_time),
        }
    )
    return wishlists, wishlist_items


def _validation_log(rng: Rng, carts: pl.DataFrame, cart_items: pl.DataFrame) -> pl.DataFrame:
    """A sample of cart item -> product and cart -> user checks."""
    sample_items = cart_items.filter(pl.Series(rng.random(cart_items.height) < 0.02))
    sample_carts = carts.filter(pl.Series(rng.random(carts.height) < 0.02))
    rvl = pl.concat(
        [
            sample_items.select(
                pl.lit("cart_item").alias("entity_type"),
                pl.col("cart_item_id").alias("entity_id"),
                pl.lit("product").alias("reference_type"),
                pl.col("product_id").alias("reference_id"),
                (pl.col("added_at") + pl.duration(seconds=1)).alias("validated_at"),
            ),
            sample_carts.select(
                pl.lit("cart").alias("entity_type"),
                pl.col("cart_id").alias("entity_id"),
                pl.lit("user").alias("reference_type"),
                pl.col("user_id").alias("reference_id"),
                (pl.col("created_at") + pl.duration(seconds=1)).alias("validated_at"),
            ),
        ]
    ).sort("validated_at", "entity_type", "entity_id")
    return rvl.select(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("log_id"),
        "entity_type",
        "entity_id",
        "reference_type",
        "reference_id",
        pl.lit(True).alias("is_valid"),
        pl.lit(None, dtype=pl.String).alias("error_message"),
        "validated_at",
    )
