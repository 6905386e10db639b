"""Customer features: point-in-time correctness (no leakage), drift features, labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from storeml_assets.features.customer import (
    CUSTOMER_ID,
    DRIFT_FEATURES,
    FEATURE_COLUMNS,
    FEATURE_SPEC,
    LABEL,
    SEGMENT_COLUMNS,
    activity_posterior,
    build_customer_features,
    label_frame,
    purchase_labels,
)
from storeml_assets_tests.features.frames import raw_frames, simulated

CUTOFF = datetime(2026, 10, 2, tzinfo=UTC)
UTC_US = pl.Datetime("us", "UTC")


def _after_cutoff_rows(frames: dict[str, pl.DataFrame], cutoff: datetime) -> dict[str, pl.DataFrame]:
    """Copies of ``frames`` with extreme rows appended at and after ``cutoff`` for existing customers."""
    later = [cutoff, cutoff + timedelta(seconds=1), cutoff + timedelta(days=3)]
    users = frames["users"]
    customers = users.filter(pl.col("signup_at") < cutoff).get_column("user_id").head(50).to_list()
    out = dict(frames)

    def add(name: str, rows: dict[str, list]) -> None:
        base = frames[name]
        extra = pl.DataFrame(rows).select(
            [pl.col(c).cast(base.schema[c]) if c in rows else pl.lit(None, dtype=base.schema[c]).alias(c)
             for c in base.columns]
        )
        out[name] = pl.concat([base, extra])

    n = len(customers) * len(later)
    user_col = [u for u in customers for _ in later]
    time_col = [t for _ in customers for t in later]
    start_id = 10_000_000
    add("orders", {
        "order_id": list(range(start_id, start_id + n)), "user_id": user_col, "ordered_at": time_col,
        "status": ["delivered"] * n, "channel": ["mobile"] * n, "total_amount": [99_999.0] * n,
        "subtotal_amount": [99_999.0] * n, "discount_amount": [5_000.0] * n, "session_id": [1] * n,
    })
    add("order_items", {"order_item_id": list(range(start_id, start_id + n)),
                        "order_id": list(range(start_id, start_id + n)), "ordered_at": time_col,
                        "product_id": [1] * n, "quantity": [1] * n, "unit_price": [1.0] * n, "line_total": [1.0] * n})
    add("user_sessions", {"session_id": list(range(start_id, start_id + n)), "user_id": user_col,
                          "started_at": time_col, "traffic_source": ["social_video"] * n, "channel": ["mobile"] * n,
                          "device": ["mobile"] * n})
    add("user_interactions", {"interaction_id": list(range(start_id, start_id + n)), "user_id": user_col,
                              "session_id": [1] * n, "product_id": [1] * n,
                              "interaction_type": ["add_to_cart"] * n, "occurred_at": time_col})
    add("carts", {"cart_id": list(range(start_id, start_id + n)), "user_id": user_col, "created_at": time_col,
                  "status": ["active"] * n})
    add("cart_items", {"cart_item_id": list(range(start_id, start_id + n)),
                       "cart_id": list(range(start_id, start_id + n)), "added_at": time_col,
                       "product_id": [1] * n, "quantity": [1] * n, "unit_price": [1.0] * n})
    wishlist_of = frames["wishlists"].get_column("wishlist_id").head(n).to_list()
    add("wishlist_items", {"wishlist_item_id": list(range(start_id, start_id + len(wishlist_of))),
                           "wishlist_id": wishlist_of, "added_at": time_col[: len(wishlist_of)],
                           "product_id": [1] * len(wishlist_of)})
    add("promo_usage", {"usage_id": list(range(start_id, start_id + n)), "user_id": user_col, "used_at": time_col,
                        "discount_amount": [9_999.0] * n, "promo_code_id": [1] * n, "order_id": [1] * n,
                        "code": ["X"] * n})
    add("reviews", {"review_id": list(range(start_id, start_id + n)), "user_id": user_col, "created_at": time_col,
                    "rating": [1] * n, "product_id": [1] * n, "order_id": [1] * n, "title": ["t"] * n,
                    "body": ["b"] * n})
    # a customer who signs up at the cutoff does not exist yet
    add("users", {"user_id": [9_999_999], "signup_at": [cutoff], "country": ["ZZ"], "email": ["x@example.com"],
                  "first_name": ["x"], "last_name": ["y"]})
    return out


def test_no_data_at_or_after_the_cutoff_changes_any_feature() -> None:
    frames = raw_frames(simulated())
    before = build_customer_features(frames, CUTOFF)
    polluted = _after_cutoff_rows(frames, CUTOFF)
    # the pollution is real: the same customers' features at a later cutoff do change
    later_cutoff = CUTOFF + timedelta(days=4)
    assert not build_customer_features(polluted, later_cutoff).equals(build_customer_features(frames, later_cutoff))
    after = build_customer_features(polluted, CUTOFF)
    assert_frame_equal(before, after)
    assert 9_999_999 not in after.get_column(CUSTOMER_ID).to_list()


def test_feature_frame_shape_and_types() -> None:
    frames = raw_frames(simulated())
    features = build_customer_features(frames, CUTOFF)
    signed_up = frames["users"].filter(pl.col("signup_at") < CUTOFF).height
    assert features.height == signed_up
    assert features.columns == FEATURE_COLUMNS
    assert features.get_column(CUSTOMER_ID).is_unique().all()
    for column in FEATURE_SPEC.numeric:
        assert features.schema[column].is_numeric(), column
    for column in SEGMENT_COLUMNS:
        assert column in FEATURE_SPEC.categorical
        assert features.get_column(column).null_count() == 0
    assert set(DRIFT_FEATURES) <= set(FEATURE_SPEC.numeric)
    assert features.get_column("frequency").sum() > 0
    # counts are never null, undefined averages are
    assert features.get_column("frequency").null_count() == 0
    no_orders = features.filter(pl.col("frequency") == 0)
    assert no_orders.get_column("recency_days").null_count() == no_orders.height


def _tiny_frames() -> dict[str, pl.DataFrame]:
    """Two customers, hand-made rows around a cutoff of 2026-03-31."""
    def ts(day: int, hour: int = 12) -> datetime:
        return datetime(2026, 3, 1, hour, tzinfo=UTC) + timedelta(days=day - 1)

    users = pl.DataFrame({"user_id": [1, 2, 3], "country": ["DE", "US", "FR"],
                          "signup_at": [datetime(2025, 1, 1, tzinfo=UTC), ts(5), ts(40)]})
    orders = pl.DataFrame({
        "order_id": [10, 11, 12, 13, 14],
        "user_id": [1, 1, 1, 2, 1],
        # order 14 (after the cutoff) claims session 3: that must not turn session 3 into an order session
        "session_id": [None, 2, None, 5, 3],
        # order 10 before the window (cutoff 31 Mar, window from 1 Mar), 14 after the cutoff
        "ordered_at": [datetime(2026, 2, 1, tzinfo=UTC), ts(10), ts(20), ts(25), ts(35)],
        "status": ["delivered", "delivered", "payment_failed", "delivered", "delivered"],
        "channel": ["web", "mobile", "web", "app", "mobile"],
        "total_amount": [10.0, 30.0, 50.0, 20.0, 999.0],
        "discount_amount": [0.0] * 5,
    })
    order_items = pl.DataFrame({"order_id": [10, 11, 11, 11, 12, 13, 14],
                                "ordered_at": [datetime(2026, 2, 1, tzinfo=UTC), ts(10), ts(10), ts(10), ts(20),
                                               ts(25), ts(35)]})
    sessions = pl.DataFrame({"session_id": [1, 2, 3, 4, 5], "user_id": [1, 1, 1, 1, 2], "started_at": [ts(3), ts(10), ts(11), ts(32), ts(25)],
                             "traffic_source": ["social_video", "direct", "email", "social_video", "direct"]})
    interactions = pl.DataFrame({"user_id": [1, 1, 2], "interaction_type": ["view", "add_to_cart", "view"],
                                 "occurred_at": [ts(10), ts(10), ts(25)]})
    empty_time = pl.Series([], dtype=pl.Datetime("us", "UTC"))
    return {
        "users": users,
        "user_profiles": pl.DataFrame({"user_id": [1, 2], "preferences": [
            '{"preferred_channel": "web", "newsletter": true}', '{"preferred_channel": "app"}']}),
        "orders": orders, "order_items": order_items, "user_sessions": sessions,
        "user_interactions": interactions,
        "carts": pl.DataFrame({"cart_id": [100], "user_id": [1], "created_at": [ts(10)]}),
        "cart_items": pl.DataFrame({"cart_id": [100, 100], "added_at": [ts(10), ts(31)]}),
        "wishlists": pl.DataFrame({"wishlist_id": [7], "user_id": [2]}),
        "wishlist_items": pl.DataFrame({"wishlist_id": [7, 7, 7], "added_at": [ts(2), ts(3), ts(33)]}),
        "promo_usage": pl.DataFrame({"user_id": [1], "discount_amount": [5.0], "used_at": [ts(10)]}),
        "reviews": pl.DataFrame({"user_id": pl.Series([], dtype=pl.Int64), "rating": pl.Series([], dtype=pl.Int16),
                                 "created_at": empty_time}),
    }


def test_hand_computed_features() -> None:
    cutoff = datetime(2026, 3, 31, tzinfo=UTC)
    features = build_customer_features(_tiny_frames(), cutoff)
    assert features.get_column(CUSTOMER_ID).to_list() == [1, 2]  # customer 3 signs up later
    one = features.row(0, named=True)
    two = features.row(1, named=True)
    # customer 1: paid orders 10 and 11 (12 failed, 14 after the cutoff)
    assert one["frequency"] == 2 and one["failed_orders"] == 1
    assert one["monetary"] == pytest.approx(40.0)
    assert one["recency_days"] == pytest.approx(20.5)  # last paid order 10 Mar 12:00
    assert one["orders_30d"] == 1
    # window [1 Mar, 31 Mar): orders 11 (mobile, 3 lines) and 12 (web, 1 line), failed included
    assert one["channel_mobile_share"] == pytest.approx(0.5)
    assert one["avg_order_value"] == pytest.approx(40.0)
    assert one["items_per_order"] == pytest.approx(2.0)
    # sessions in the window: 3, 10, 11 March (32 is after the cutoff)
    assert one["sessions_per_week"] == pytest.approx(3 / (30 / 7))
    assert one["traffic_social_video_share"] == pytest.approx(1 / 3)
    assert one["cart_adds"] == 1 and one["carts_created"] == 1
    assert one["promo_uses"] == 1 and one["promo_discount_total"] == pytest.approx(5.0)
    assert one["review_count"] == 0 and one["review_mean_rating"] is None
    assert one["interactions_add_to_cart"] == 1
    assert one["web_share_90d"] == pytest.approx(2 / 3)
    assert one["channel_segment"] == "web" and one["tenure_band"] == "365d+"
    # customer 2: one app order, wishlist of 2 before the cutoff, tenure 26 days
    assert two["wishlist_size"] == 2
    assert two["channel_mobile_share"] == pytest.approx(0.0)
    assert two["channel_segment"] == "app" and two["tenure_band"] == "0-89d"
    assert two["tenure_days"] == pytest.approx(25.5)
    # activity model: exposure from the first order in the data (1 Feb) for customer 1 (58 days), from
    # signup for customer 2 (25.5 days); orders of any status; browse sessions 1 and 3 (2 is order 11's)
    assert one["activity_order_rate_per_30d"] == pytest.approx(3 * 30 / 58)
    assert one["activity_browse_rate_per_30d"] == pytest.approx(2 * 30 / 58)
    assert two["activity_order_rate_per_30d"] == pytest.approx(30 / 25.5)
    assert two["activity_browse_rate_per_30d"] == pytest.approx(0.0)
    for row in (one, two):
        assert 0.0 < row["activity_p_alive"] < 1.0 and 0.0 < row["activity_propensity_30d"] < 1.0
    # behaviour before the lookback is ignored: order 10 (1 Feb) falls outside a 40-day lookback
    short = build_customer_features(_tiny_frames(), cutoff, lookback_days=40).row(0, named=True)
    assert short["frequency"] == 1 and short["monetary"] == pytest.approx(30.0)
    assert short["web_share_90d"] == pytest.approx(1 / 2)


def test_activity_posterior_orders_customers_sensibly() -> None:
    # same history length; a: busy and recent, b: same count but silent for 50 days, c: rare, d: nothing
    post = activity_posterior(np.array([12.0, 12.0, 1.0, 0.0]), np.array([4.0, 4.0, 0.0, 0.0]),
                              np.array([90.0, 90.0, 90.0, 90.0]), np.array([89.0, 40.0, 80.0, 0.0]))
    alive, propensity = post["p_alive"], post["propensity"]
    assert alive[0] > 0.95 and alive[1] < 0.2  # 50 silent days are unlikely for a 12-orders-in-90 customer
    assert propensity[0] > propensity[2] > propensity[3] and propensity[0] > propensity[1]
    assert np.all((propensity > 0) & (propensity < 1))
    # a customer active now may still drop out within the 30 days: fewer expected orders than rate x 30
    assert 0.9 * post["order_rate"][0] * 30 < post["expected_orders"][0] < post["order_rate"][0] * 30
    # a higher dropout hazard lowers the chance of still being active after the same silence
    riskier = activity_posterior(np.array([12.0]), np.array([4.0]), np.array([90.0]), np.array([70.0]),
                                 dropout_hazard=0.02)
    calmer = activity_posterior(np.array([12.0]), np.array([4.0]), np.array([90.0]), np.array([70.0]))
    assert riskier["p_alive"][0] < calmer["p_alive"][0]
    with pytest.raises(ValueError, match="dropout_hazard"):
        activity_posterior(np.ones(1), np.ones(1), np.ones(1), np.ones(1), dropout_hazard=0.0)


def test_purchase_labels_window_and_failed_orders() -> None:
    cutoff = datetime(2026, 3, 31, tzinfo=UTC)
    orders = pl.DataFrame({
        "user_id": [1, 2, 3, 4, 5, 6],
        "ordered_at": [cutoff, cutoff + timedelta(seconds=1), cutoff + timedelta(days=30),
                       cutoff + timedelta(days=30, seconds=1), cutoff + timedelta(days=2),
                       cutoff - timedelta(days=1)],
        "status": ["delivered", "processing", "delivered", "delivered", "payment_failed", "delivered"],
    })
    labels = purchase_labels(orders, cutoff, horizon_days=30)
    assert labels.get_column(CUSTOMER_ID).to_list() == [2, 3]
    assert labels.get_column(LABEL).to_list() == [True, True]

    features = pl.DataFrame({CUSTOMER_ID: [1, 2, 3, 4], "cutoff": [cutoff] * 4})
    labelled = label_frame(features, orders)
    assert labelled.get_column(LABEL).to_list() == [False, True, True, False]


def test_labels_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="horizon_days"):
        purchase_labels(pl.DataFrame({"user_id": [1], "ordered_at": [CUTOFF], "status": ["x"]}), CUTOFF, 0)
    with pytest.raises(ValueError, match="status"):
        purchase_labels(pl.DataFrame({"user_id": [1], "ordered_at": [CUTOFF]}), CUTOFF)
