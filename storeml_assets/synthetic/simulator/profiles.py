"""User profiles (random stream ``STREAM_PROFILES``): segment and loyalty tier from the order
history, and drawn preferences."""

from __future__ import annotations

import numpy as np
import polars as pl

from storeml_assets.synthetic.simulator.catalogue import Catalog
from storeml_assets.synthetic.simulator.common import STREAM_PROFILES, History
from storeml_assets.synthetic.simulator.config import CHANNELS, DAY
from storeml_assets.synthetic.simulator.customers import Customers
from storeml_assets.synthetic.simulator.orders import Orders


def user_profiles(history: History, cat: Catalog, customers: Customers, orders: Orders) -> pl.DataFrame:
    """``user_profiles``: one row per user."""
    rng = history.stream(STREAM_PROFILES)
    n_users, o_user, failed = customers.n, orders.user, orders.failed
    hist_orders = np.bincount(o_user[~failed], minlength=n_users)
    spend = np.bincount(o_user[~failed], weights=orders.total[~failed], minlength=n_users) / 100.0
    recent_signup = customers.signup >= history.end_ts - 30 * DAY
    segment = np.where(
        recent_signup, "new",
        np.where(hist_orders >= 25, "vip", np.where(hist_orders >= 8, "regular", np.where(hist_orders >= 1, "occasional", "dormant"))),
    )
    tier = np.where(spend >= 5000, "gold", np.where(spend >= 1500, "silver", np.where(spend >= 300, "bronze", "none")))
    top_cat_ids = cat.categories.filter(pl.col("parent_category_id").is_null())["category_id"].to_numpy()
    pref_cat = top_cat_ids[rng.integers(0, len(top_cat_ids), n_users)]
    pref_channel = np.array(CHANNELS)[rng.integers(0, 3, n_users)]
    newsletter = rng.random(n_users) < 0.5
    return pl.DataFrame(
        {
            "user_id": customers.user_ids,
            "segment": segment,
            "marketing_opt_in": rng.random(n_users) < 0.6,
            "loyalty_tier": tier,
            "preferred_category_id": pref_cat.astype(np.int64),
            "pref_channel": pref_channel,
            "newsletter": newsletter,
        }
    ).select(
        "user_id",
        "segment",
        "marketing_opt_in",
        "loyalty_tier",
        "preferred_category_id",
        pl.concat_str(
            [pl.lit('{"preferred_channel": "'), pl.col("pref_channel"), pl.lit('", "newsletter": '),
             pl.when(pl.col("newsletter")).then(pl.lit("true")).otherwise(pl.lit("false")),
             pl.lit(', "currency": "USD"}')]
        ).alias("preferences"),
    )
