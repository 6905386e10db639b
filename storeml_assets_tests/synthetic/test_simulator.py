"""The simulator's tables: determinism, cross-service integrity and the planted truth (tiny scale)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from storeml_assets.synthetic.simulator import (
    DRIFT_FEATURES,
    SimulatedData,
    SimulationConfig,
    drift_features,
    simulate,
)


@pytest.fixture(scope="module")
def data() -> SimulatedData:
    return simulate(SimulationConfig(seed=7, scale="tiny"))


def _all_frames(d: SimulatedData) -> dict[str, pl.DataFrame]:
    frames = {f"{db}.{t}": df for db, tables in d.databases.items() for t, df in tables.items()}
    frames.update({f"ground_truth.{t}": df for t, df in d.ground_truth.items()})
    return frames


def test_same_seed_gives_identical_frames_and_other_seed_differs(data: SimulatedData) -> None:
    again = _all_frames(simulate(SimulationConfig(seed=7, scale="tiny")))
    for name, df in _all_frames(data).items():
        assert df.equals(again[name]), name
    other = simulate(SimulationConfig(seed=8, scale="tiny"))
    assert not data.table("orders").equals(other.table("orders"))
    assert not data.table("order_items").equals(other.table("order_items"))


def test_config_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown scale 'huge'"):
        SimulationConfig(scale="huge")
    with pytest.raises(ValueError, match="drift_cutover"):
        SimulationConfig(drift_cutover=datetime(2020, 1, 1).date())


def test_sizes_follow_the_tiny_preset(data: SimulatedData) -> None:
    assert data.table("users").height == 500
    assert 4_500 <= data.table("orders").height <= 5_500
    assert data.table("products").height == 200
    # the sources' minimum row-count checks pass at tiny scale
    assert data.table("user_interactions").height >= 1_000
    assert data.table("reviews").height >= 200


def test_primary_keys_unique(data: SimulatedData) -> None:
    keys = {
        "users": "user_id", "user_sessions": "session_id", "products": "product_id", "orders": "order_id",
        "order_items": "order_item_id", "transactions": "transaction_id", "user_interactions": "interaction_id",
        "reviews": "review_id", "carts": "cart_id", "cart_items": "cart_item_id", "promo_codes": "promo_code_id",
        "promo_usage": "usage_id", "cart_view": "cart_item_id", "wishlist_items": "wishlist_item_id",
    }
    for table, key in keys.items():
        col = data.table(table)[key]
        assert col.null_count() == 0 and col.n_unique() == len(col), table
    assert data.table("users")["email"].n_unique() == 500
    assert data.table("products")["sku"].n_unique() == 200


def _subset(child: pl.Series, parent: pl.Series) -> bool:
    return bool(child.drop_nulls().is_in(parent.implode()).all())


def test_cross_service_references_resolve(data: SimulatedData) -> None:
    products = data.table("products")["product_id"]
    users = data.table("users")["user_id"]
    assert _subset(data.table("order_items")["product_id"], products)
    assert _subset(data.table("cart_items")["product_id"], products)
    assert _subset(data.table("wishlist_items")["product_id"], products)
    assert _subset(data.table("user_interactions")["product_id"], products)
    assert _subset(data.table("orders")["user_id"], users)
    assert _subset(data.table("carts")["user_id"], users)
    assert _subset(data.table("user_sessions")["user_id"], users)
    assert _subset(data.table("order_items")["variant_id"], data.table("product_variants")["variant_id"])
    assert _subset(data.table("products")["category_id"], data.table("categories")["category_id"])
    # sessions belong to the user who ordered / interacted
    sessions = data.table("user_sessions").select("session_id", pl.col("user_id").alias("s_user"))
    for table in ("orders", "user_interactions"):
        joined = data.table(table).join(sessions, on="session_id", how="left")
        assert joined["s_user"].null_count() == 0, table
        assert (joined["s_user"] == joined["user_id"]).all(), table


def test_promo_usage_ties_codes_to_orders(data: SimulatedData) -> None:
    usage = data.table("promo_usage")
    assert usage.height > 100
    assert _subset(usage["promo_code_id"], data.table("promo_codes")["promo_code_id"])
    joined = usage.join(data.table("orders"), on="order_id", how="left")
    assert joined["user_id_right"].null_count() == 0
    assert (joined["promo_code"] == joined["code"]).all()
    assert (joined["user_id"] == joined["user_id_right"]).all()
    assert (joined["discount_amount"] == joined["discount_amount_right"]).all()
    assert (joined["status"] != "payment_failed").all()


def test_amounts_add_up(data: SimulatedData) -> None:
    items = data.table("order_items")
    assert (items["line_total"] == (items["unit_price"] * items["quantity"]).cast(pl.Decimal(12, 2))).all()
    sums = items.group_by("order_id").agg(pl.col("line_total").sum().alias("s"))
    orders = data.table("orders").join(sums, on="order_id", how="left")
    assert (orders["s"].cast(pl.Decimal(12, 2)) == orders["subtotal_amount"]).all()
    assert (orders["total_amount"] == (orders["subtotal_amount"] - orders["discount_amount"]).cast(pl.Decimal(12, 2))).all()
    tx = data.table("transactions").join(orders, on="order_id")
    assert (tx["amount"] == tx["total_amount"]).all()


def test_failed_payments_are_never_fulfilled(data: SimulatedData) -> None:
    tx = data.table("transactions").join(data.table("orders"), on="order_id")
    failed = tx.filter(pl.col("status") == "failed")
    assert 0.02 <= failed.height / tx.height <= 0.07
    assert (failed["status_right"] == "payment_failed").all()
    assert failed["failure_reason"].null_count() == 0
    ok = tx.filter(pl.col("status") == "success")
    assert (ok["status_right"] != "payment_failed").all()
    assert "delivered" in set(ok["status_right"])


def test_each_paid_order_item_is_a_purchase_in_its_session(data: SimulatedData) -> None:
    orders = data.table("orders")
    lines = data.table("order_items").join(orders.select("order_id", "session_id", "user_id", "status"), on="order_id")
    purchases = data.table("user_interactions").filter(pl.col("interaction_type") == "purchase")
    paid = lines.filter(pl.col("status") != "payment_failed").select("session_id", "user_id", "product_id")
    got = purchases.select("session_id", "user_id", "product_id")
    assert paid.sort(paid.columns).equals(got.sort(got.columns))
    # the funnel narrows
    counts = dict(data.table("user_interactions")["interaction_type"].value_counts().iter_rows())
    assert counts["view"] > counts["click"] > counts["add_to_cart"] > counts["purchase"] > counts["wishlist"] > 0
    # every cart item of a converted cart is an order line
    carts = data.table("carts").filter(pl.col("status") == "converted")
    assert carts.height == orders.height


def test_reviews_only_for_own_purchases_after_the_order(data: SimulatedData) -> None:
    reviews = data.table("reviews")
    lines = data.table("order_items").join(
        data.table("orders").select("order_id", "user_id", "ordered_at", "status"), on="order_id"
    )
    joined = reviews.join(lines, on=["order_id", "product_id"], how="left")
    assert joined["ordered_at"].null_count() == 0
    assert (joined["user_id"] == joined["user_id_right"]).all()
    assert (joined["created_at"] > joined["ordered_at"]).all()
    assert joined["status"].is_in(["delivered", "returned"]).all()
    assert reviews.select("user_id", "product_id").is_unique().all()


def test_review_text_follows_its_planted_sentiment(data: SimulatedData) -> None:
    reviews = data.table("reviews")
    truth = data.ground_truth["review_sentiment"]
    assert truth["review_id"].to_list() == reviews["review_id"].to_list()
    rating = reviews["rating"].to_numpy()
    assert set(np.unique(rating)) == {1, 2, 3, 4, 5}
    expected = np.where(rating <= 2, "negative", np.where(rating == 3, "neutral", "positive"))
    assert (truth["rating_class"].to_numpy() == expected).all()
    disagrees = truth["text_sentiment"].to_numpy() != expected
    assert (truth["disagrees"].to_numpy() == disagrees).all()
    assert 0.03 < disagrees.mean() < 0.12  # the planted share (7%) at tiny's few hundred reviews
    # realistic text: varied, with negation, mixed opinions and typos
    assert reviews["body"].n_unique() > 0.9 * reviews.height
    assert truth["negated"].mean() > 0.2 and truth["mixed"].mean() > 0.2 and (truth["typos"] > 0).mean() > 0.1
    # the oracle's probabilities are distributions favouring the text's own sentiment
    proba = truth.select("oracle_p_negative", "oracle_p_neutral", "oracle_p_positive").to_numpy()
    assert np.allclose(proba.sum(axis=1), 1.0)
    best = np.array(["negative", "neutral", "positive"])[proba.argmax(axis=1)]
    assert (best == truth["text_sentiment"].to_numpy()).all()


def test_planted_bundles_cooccur_far_above_chance(data: SimulatedData) -> None:
    bundles = data.ground_truth["planted_bundles"]
    assert bundles.height == 10 and set(bundles["size"]) == {2, 3}
    items = data.table("order_items").select("order_id", "product_id")
    n_orders = data.table("orders").height
    for row in bundles.iter_rows(named=True):
        ids = row["product_ids"]
        per_order = items.filter(pl.col("product_id").is_in(ids)).group_by("order_id").agg(pl.len().alias("n"))
        together = per_order.filter(pl.col("n") == len(ids)).height
        singles = [items.filter(pl.col("product_id") == p)["order_id"].n_unique() / n_orders for p in ids]
        lift = (together / n_orders) / float(np.prod(singles))
        assert lift >= 2, row
        assert lift == pytest.approx(row["observed_lift"])
        # every pair inside the bundle is also a strong rule
        for i in range(len(ids)):
            for j in range(i + 1, len(ids)):
                a = set(items.filter(pl.col("product_id") == ids[i])["order_id"])
                b = set(items.filter(pl.col("product_id") == ids[j])["order_id"])
                assert len(a & b) / n_orders / (len(a) / n_orders * len(b) / n_orders) >= 2


def test_popularity_is_skewed_and_weekends_are_busier(data: SimulatedData) -> None:
    counts = data.table("order_items")["product_id"].value_counts()["count"].sort(descending=True)
    assert counts.head(20).sum() / counts.sum() > 0.3
    weekday = data.table("orders")["ordered_at"].dt.weekday()
    assert (weekday >= 6).mean() > 2 / 7 + 0.02


def test_propensity_drives_history_and_label(data: SimulatedData) -> None:
    truth = data.ground_truth["customer_propensity"]
    assert truth["true_propensity"].is_between(0, 1).all()
    counts = data.table("orders").group_by("user_id").agg(pl.len().alias("n"))
    joined = truth.join(counts, on="user_id", how="left").fill_null(0)
    assert np.corrcoef(joined["true_propensity"], joined["n"])[0, 1] > 0.3
    high = joined.filter(pl.col("true_propensity") > 0.6)["will_purchase"].mean()
    low = joined.filter(pl.col("true_propensity") < 0.2)["will_purchase"].mean()
    assert high > low + 0.4
    assert 0.2 < truth["will_purchase"].mean() < 0.8
    start, end = SimulationConfig().propensity_period
    assert (truth["period_start"] == start).all() and (end - start).days == 29


def test_most_sessions_end_without_an_order_many_without_a_product(data: SimulatedData) -> None:
    sessions = data.table("user_sessions")
    ordered = data.table("orders")["session_id"].unique()
    touched = data.table("user_interactions")["session_id"].unique()
    with_order = sessions["session_id"].is_in(ordered.implode()).mean()
    without_product = (~sessions["session_id"].is_in(touched.implode())).mean()
    assert with_order is not None and without_product is not None
    # per order: one order session, 0.6 browse sessions, 2.0 visits (no product): under 30% convert
    assert 0.2 < with_order < 0.3
    assert 0.5 < without_product < 0.7
    assert (sessions["ended_at"] > sessions["started_at"]).all()


def test_churn_goes_on_after_the_history() -> None:
    # a constant churn hazard: about 30% of the customers churned during the history, the rest may
    # still churn within the 30 days after it; the outcomes are drawn with the realised churn times
    truth = simulate(SimulationConfig(seed=7, scale="small")).ground_truth["customer_propensity"]
    active = truth.filter(~pl.col("is_churned"))
    churned = truth.filter(pl.col("is_churned"))
    assert 0.2 < churned.height / truth.height < 0.4
    assert churned["true_propensity"].median() < 0.1 < 0.4 < active["true_propensity"].median()
    assert churned["will_purchase"].mean() < 0.1
    # outcomes follow the propensity: the mean outcome matches the mean propensity per band
    for lo, hi in ((0.0, 0.3), (0.3, 0.7), (0.7, 1.0)):
        band = truth.filter(pl.col("true_propensity").is_between(lo, hi, closed="left"))
        assert abs(band["will_purchase"].mean() - band["true_propensity"].mean()) < 0.05, (lo, hi)


def test_drift_changes_documented_columns_after_cutover_only() -> None:
    off = simulate(SimulationConfig(seed=3, scale="tiny"))
    on = simulate(SimulationConfig(seed=3, scale="tiny", drift=True))
    assert off.ground_truth["drift_spec"].height == 0
    spec = on.ground_truth["drift_spec"]
    assert set(spec["feature_name"]) == set(DRIFT_FEATURES)
    cfg = on.config
    start = datetime(cfg.start_date.year, cfg.start_date.month, cfg.start_date.day, tzinfo=UTC)
    cut = datetime(cfg.cutover.year, cfg.cutover.month, cfg.cutover.day, tzinfo=UTC)
    end = datetime(cfg.end_date.year, cfg.end_date.month, cfg.end_date.day, tzinfo=UTC) + timedelta(days=1)

    def feats(d: SimulatedData, lo: datetime, hi: datetime) -> dict[str, float]:
        return drift_features(d.table("orders"), d.table("order_items"), d.table("user_sessions"), 500, lo, hi)

    # rows before the cut-over are identical with and without drift
    for table, column in (("orders", "ordered_at"), ("user_sessions", "started_at")):
        pre_off = off.table(table).filter(pl.col(column) < cut)
        assert pre_off.height > 1000
        assert pre_off.equals(on.table(table).filter(pl.col(column) < cut)), table
    pre_orders = off.table("orders").filter(pl.col("ordered_at") < cut)["order_id"].implode()
    pre_items_off = off.table("order_items").filter(pl.col("order_id").is_in(pre_orders))
    assert pre_items_off.equals(on.table("order_items").filter(pl.col("order_id").is_in(pre_orders)))

    before_off, before_on = feats(off, start, cut), feats(on, start, cut)
    after_off, after_on = feats(off, cut, end), feats(on, cut, end)
    assert before_on == before_off
    assert before_on["traffic_social_video_share"] == 0 == after_off["traffic_social_video_share"]
    assert after_on["channel_mobile_share"] > after_off["channel_mobile_share"] + 0.15
    assert after_on["avg_order_value"] > 1.25 * after_off["avg_order_value"]
    assert after_on["items_per_order"] > after_off["items_per_order"] + 0.3
    assert after_on["sessions_per_week"] > 1.2 * after_off["sessions_per_week"]
    assert after_on["traffic_social_video_share"] > 0.15
    # the recorded expectations match what the data shows
    recorded = {r["feature_name"]: r for r in spec.iter_rows(named=True)}
    for name, value in after_on.items():
        assert recorded[name]["expected_after"] == pytest.approx(value)
        assert recorded[name]["cut_over"] == cfg.cutover
