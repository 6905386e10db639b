"""The recommendations family on a simulated `small` storefront, in memory: the planted-taste targets of the
issue (NDCG@10 >= 1.3 x popularity and >= 0.7 x the oracle), the three kinds of request, the bad inputs (a
customer with no history, a product with one sale, malformed requests), the output table, gates and drift."""

from __future__ import annotations

import math
import pickle
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import polars as pl
import pytest

from storeml_assets.lifecycle.generic import DriftResult, Evaluation, GateContext, Prepared, Skip
from storeml_assets.recommendations import data, evaluation, family, model
from storeml_assets_tests.features.frames import simulated

TABLES = ("user_interactions", "orders", "order_items", "products", "customer_taste", "product_appeal")


@pytest.fixture(scope="module")
def frames() -> dict[str, pl.DataFrame]:
    sim = simulated("small", 7, False)
    return {name: sim.table(name) for name in TABLES}


@pytest.fixture(scope="module")
def trained(frames: dict[str, pl.DataFrame]) -> tuple[Prepared, model.Recommender, Evaluation]:
    prepared = family.FAMILY.prepare(frames, 42)
    recommender = family.FAMILY.fit(prepared, 42)
    return prepared, recommender, family.FAMILY.evaluate(recommender, prepared)


def test_planted_taste_is_learned_beyond_popularity_and_near_the_oracle(
        trained: tuple[Prepared, model.Recommender, Evaluation]) -> None:
    _, _, result = trained
    ndcg = result.metrics["ndcg_at_10"]
    popularity = result.baselines["popularity"]["ndcg_at_10"]
    recent = result.baselines["recent_popularity"]["ndcg_at_10"]
    assert result.oracle is not None, result.oracle_reason
    oracle = result.oracle["ndcg_at_10"]
    assert oracle > 1.3 * popularity, (oracle, popularity)  # the simulator plants taste worth learning
    assert ndcg >= 1.3 * popularity, (ndcg, popularity)
    assert ndcg >= 1.3 * recent, (ndcg, recent)
    assert ndcg >= 0.7 * oracle, (ndcg, oracle)
    assert set(result.metrics) == set(evaluation.METRICS)
    assert all(math.isfinite(v) for v in result.metrics.values())
    assert result.metrics["coverage"] > result.baselines["popularity"]["coverage"]
    assert result.details["scored_customers"] >= 500 and result.details["excludes_already_bought"] is True


def test_customers_buy_mostly_in_their_favourite_categories(frames: dict[str, pl.DataFrame]) -> None:
    favourites = frames["customer_taste"].filter(pl.col("kind") == "category").select(
        pl.col("user_id"), "category_id", pl.lit(True).alias("favourite"))
    lines = (frames["order_items"].join(frames["orders"].select("order_id", "user_id"), on="order_id")
             .join(frames["products"].select("product_id", "category_id"), on="product_id")
             .join(favourites, on=["user_id", "category_id"], how="left"))
    share = float(lines.get_column("favourite").fill_null(False).cast(pl.Float64).to_numpy().mean())
    leaves = frames["products"].get_column("category_id").n_unique()
    # without taste, two leaf categories of ~24 would hold about a twelfth of the lines
    assert share > 5 * (2 / leaves), (share, leaves)


def test_ranking_metrics_match_a_hand_computed_example() -> None:
    recommended = np.array([[5, 1, 7, 2, 9, 10, 11, 12, 13, 14], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]])
    relevant = [{1, 2}, {99}]
    got = evaluation.ranking_metrics(recommended, relevant, catalogue_size=40)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3)
    assert got["ndcg_at_10"] == pytest.approx((dcg / ideal + 0) / 2)
    assert got["precision_at_10"] == pytest.approx((2 / 10) / 2)
    assert got["recall_at_10"] == pytest.approx((2 / 2) / 2)
    assert got["map_at_10"] == pytest.approx(((1 / 2 + 2 / 4) / 2) / 2)
    assert got["coverage"] == pytest.approx(len({5, 1, 7, 2, 9, 10, 11, 12, 13, 14, 3, 4, 6, 8}) / 40)


def _request(**columns: list[object]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base: dict[str, list[object]] = {"kind": ["customer"] * n, "customer_id": [float("nan")] * n,
                                     "product_ids": [""] * n, "product_id": [float("nan")] * n}
    return pd.DataFrame({**base, **columns})


def test_one_predict_serves_customers_baskets_and_similar_products(
        trained: tuple[Prepared, model.Recommender, Evaluation]) -> None:
    prepared, recommender, _ = trained
    served = pickle.loads(pickle.dumps(recommender))  # the fitted state is plain picklable objects
    example = family.FAMILY.input_example(prepared)
    out = served.predict(None, example)
    assert list(out.columns) == list(model.OUTPUT_COLUMNS)
    assert out.groupby("request").size().tolist() == [10, 10, 10]
    assert set(out["source"]) == {"model"}
    assert out.equals(recommender.predict(None, example))
    # the customer's recommendations never repeat what they bought before the cutoff
    customer = int(example.loc[0, "customer_id"])
    bought = set(prepared.extra["bought"].filter(pl.col("customer_id") == customer).get_column("product_id").to_list())
    assert bought and not bought & set(out[out["request"] == 0]["product_id"])
    # a basket's own products are excluded; similar products exclude the product itself
    basket = {int(p) for p in str(example.loc[1, "product_ids"]).split(",")}
    assert not basket & set(out[out["request"] == 1]["product_id"])
    assert int(example.loc[2, "product_id"]) not in set(out[out["request"] == 2]["product_id"])
    assert (out.groupby("request")["score"].apply(lambda s: s.is_monotonic_decreasing)).all()
    assert len(served.predict(None, example.head(1), params={"k": 3})) == 3


def test_a_customer_with_no_history_and_an_empty_basket_get_the_best_sellers(
        trained: tuple[Prepared, model.Recommender, Evaluation]) -> None:
    _, recommender, _ = trained
    out = recommender.predict(None, _request(kind=["customer", "basket", "basket"],
                                             customer_id=[10_000_000.0, float("nan"), float("nan")],
                                             product_ids=["", "", "987654321"]))
    assert set(out["source"]) == {"popularity"}
    ranked = recommender.product_ids[np.argsort(-recommender.popularity, kind="stable")]
    best = [p for p in ranked if p not in set(recommender.product_ids[recommender.inactive])][:10]
    for request in range(3):
        assert out[out["request"] == request]["product_id"].tolist() == best


def test_a_product_with_one_sale_gets_similar_products_and_can_be_recommended(
        frames: dict[str, pl.DataFrame]) -> None:
    # a new product sold once, early in the history, and never viewed
    products, items = frames["products"], frames["order_items"]
    product = int(products.get_column("product_id").max()) + 1  # type: ignore[arg-type]
    newcomer = products.tail(1).with_columns(product_id=pl.lit(product, dtype=products.schema["product_id"]),
                                             is_active=pl.lit(True))
    first_order = frames["orders"].sort("ordered_at").filter(pl.col("status") == "delivered").head(1)
    line = items.filter(pl.col("order_id") == first_order.get_column("order_id")[0]).head(1).with_columns(
        product_id=pl.lit(product, dtype=items.schema["product_id"]))
    prepared = data.prepare({**frames, "products": pl.concat([products, newcomer]),
                             "order_items": pl.concat([items, line])}, 42)
    sales = prepared.train.filter((pl.col("product_id") == product) & (pl.col("interaction_type") == "purchase"))
    assert sales.height == 1
    recommender = model.fit(prepared, 42)
    out = recommender.predict(None, _request(kind=["similar", "basket"], product_id=[float(product), float("nan")],
                                             product_ids=["", str(product)]))
    for request in (0, 1):
        rows = out[out["request"] == request]
        assert len(rows) == 10 and product not in set(rows["product_id"])
        assert np.isfinite(rows["score"]).all()
    never = set(recommender.product_ids) - set(prepared.train.get_column("product_id").to_list())
    if never:  # a product no customer touched: similar products fall back to the best sellers
        lonely = recommender.predict(None, _request(kind=["similar"], product_id=[float(min(never))]))
        assert set(lonely["source"]) == {"popularity"}


@pytest.mark.parametrize(("request_frame", "params", "message"), [
    (pd.DataFrame({"customer_id": [1.0]}), None, "'kind' column"),
    (_request(kind=["wishes"]), None, "unknown kind 'wishes'"),
    (_request(kind=["customer"]), None, "needs 'customer_id'"),
    (_request(kind=["basket"], product_ids=["12,apple"]), None, "integer ids"),
    (_request(kind=["customer"], customer_id=[1.0]), {"k": 0}, "k must be at least 1"),
])
def test_malformed_requests_are_refused_with_the_reason(trained: tuple[Prepared, model.Recommender, Evaluation],
                                                         request_frame: pd.DataFrame, params: dict[str, int] | None,
                                                         message: str) -> None:
    _, recommender, _ = trained
    with pytest.raises(ValueError, match=message):
        recommender.predict(None, request_frame, params=params)


def test_output_covers_every_active_customer_without_their_purchases(
        frames: dict[str, pl.DataFrame], trained: tuple[Prepared, model.Recommender, Evaluation]) -> None:
    _, recommender, _ = trained
    out = family.FAMILY.output(recommender, frames, "7")
    every = data.events(frames)
    newest = every.get_column("occurred_at").max()
    assert isinstance(newest, datetime)
    active = set(every.filter(pl.col("occurred_at") >= newest - timedelta(days=data.ACTIVE_DAYS))
                 .get_column("customer_id").to_list())
    assert set(out.get_column("customer_id").to_list()) == active
    assert out.columns == ["customer_id", "rank", "product_id", "score", "model_version"]
    assert out.group_by("customer_id").len().get_column("len").unique().to_list() == [10]
    assert out.get_column("model_version").unique().to_list() == ["7"]
    bought = every.filter(pl.col("interaction_type") == "purchase").select("customer_id", "product_id").unique()
    assert out.join(bought, on=["customer_id", "product_id"], how="semi").height == 0
    newcomers = active - set(recommender._row)
    assert newcomers, "no customer appeared after the cutoff"
    assert out.filter(pl.col("customer_id").is_in(list(newcomers))).height == 10 * len(newcomers)


def _ctx(candidate: Evaluation, champion: Evaluation | None = None, drift: DriftResult | None = None,
         identical: str | None = None, **thresholds: float) -> GateContext:
    return GateContext(candidate=candidate, champion=champion, training_rows=50_000, failed_checks=[],
                       drift=drift or DriftResult({}, [], 0.0, True, "none"), identical_to_champion=identical,
                       thresholds={**family.FAMILY.gate_defaults, **thresholds})


def test_gates_promote_the_trained_model_and_reject_one_that_loses_to_popularity(
        trained: tuple[Prepared, model.Recommender, Evaluation]) -> None:
    _, _, result = trained
    verdict = {r.name: r for r in family.gates(_ctx(result))}
    assert list(verdict) == ["data_volume", "performance_floor", "no_regression", "calibration", "data_drift",
                             "activity_consistency"]
    assert all(r.passed for r in verdict.values()), {r.name: r.reason for r in verdict.values() if not r.passed}

    popularity = result.baselines["popularity"]
    weak = replace(result, metrics={**result.metrics, "ndcg_at_10": 0.5 * popularity["ndcg_at_10"],
                                    "coverage": 0.01},
                   details={**result.details, "ndcg_by_activity": {
                       "model": {"light": 0.01, "heavy": 0.5}, "popularity": {"light": 0.1, "heavy": 0.1}}})
    failed = {r.name: r for r in family.gates(_ctx(weak, champion=result)) if not r.passed}
    assert set(failed) == {"performance_floor", "no_regression", "calibration", "activity_consistency"}
    assert "x popularity" in failed["performance_floor"].reason
    assert "light customers" in failed["activity_consistency"].reason


def test_drift_sees_a_changed_interaction_mix_and_new_products(
        frames: dict[str, pl.DataFrame], trained: tuple[Prepared, model.Recommender, Evaluation]) -> None:
    prepared, _, _ = trained
    calm = family.drift(prepared, frames)
    assert calm.judged and calm.drifted == [], calm.reason
    recent: pl.DataFrame = prepared.extra["recent"]
    shifted = recent.with_columns(
        interaction_type=pl.when(pl.int_range(pl.len()) % 3 == 0).then(pl.lit("view"))
        .otherwise(pl.col("interaction_type")),
        product_id=pl.when(pl.int_range(pl.len()) % 5 == 0).then(pl.col("product_id") + 1_000_000)
        .otherwise(pl.col("product_id")))
    moved = family.drift(replace(prepared, extra={**prepared.extra, "recent": shifted}), frames)
    assert {"interaction_mix_distance", "new_product_event_share"} <= set(moved.drifted), moved.reason
    assert moved.share is not None and moved.share >= 2 / 3


def test_too_little_data_skips_the_family_with_the_reason(frames: dict[str, pl.DataFrame]) -> None:
    few = {**frames, "user_interactions": frames["user_interactions"].head(100),
           "order_items": frames["order_items"].head(100)}
    with pytest.raises(Skip, match=r"interaction events has \d+ rows < 1000"):
        data.prepare(few, 42)
    with pytest.raises(Skip, match="user_interactions is missing"):
        data.prepare({k: v for k, v in frames.items() if k != "user_interactions"}, 42)


def test_without_planted_truth_there_is_no_oracle_and_a_reason(
        frames: dict[str, pl.DataFrame], trained: tuple[Prepared, model.Recommender, Evaluation]) -> None:
    prepared, recommender, _ = trained
    bare = replace(prepared, extra={**prepared.extra, "truth": data.oracle_truth(
        {k: v for k, v in frames.items() if k != "customer_taste"})})
    result = evaluation.evaluate(recommender, bare)
    assert result.oracle is None and "customer_taste" in result.oracle_reason
    assert "popularity" in result.baselines and "recent_popularity" in result.baselines


def test_a_champion_fitted_on_other_data_is_judged_on_the_customers_it_knows(
        trained: tuple[Prepared, model.Recommender, Evaluation], frames: dict[str, pl.DataFrame]) -> None:
    prepared, fitted, _ = trained
    # the champion of an earlier attempt: fitted without the newest fifth of the customers
    customers = frames["orders"].get_column("user_id").unique().sort()
    kept = pl.col("user_id") < customers[int(len(customers) * 0.8)]
    older = {**frames, "user_interactions": frames["user_interactions"].filter(kept),
             "orders": frames["orders"].filter(kept)}
    champion = family.FAMILY.fit(family.FAMILY.prepare(older, 42), 42)
    judged = family.FAMILY.evaluate(champion, prepared)
    assert judged.details["customers_unknown_to_model"] > 0
    assert judged.details["scored_customers"] > 0 and math.isfinite(judged.metrics["ndcg_at_10"])
    assert family.FAMILY.evaluate(fitted, prepared).details["customers_unknown_to_model"] == 0


def test_a_champion_fitted_before_new_products_is_judged_in_its_own_catalogue(
        trained: tuple[Prepared, model.Recommender, Evaluation], frames: dict[str, pl.DataFrame]) -> None:
    """The catalogue grew since the champion was fitted: every ranking it is compared with (baselines, the
    oracle) is taken over the champion's products, which it can recommend; the new ones it cannot."""
    prepared, _, _ = trained
    products = frames["products"].get_column("product_id").sort()
    kept = pl.col("product_id") < products[int(len(products) * 0.7)]
    older = {**frames, "products": frames["products"].filter(kept),
             "user_interactions": frames["user_interactions"].filter(kept),
             "order_items": frames["order_items"].filter(kept)}
    champion = family.FAMILY.fit(family.FAMILY.prepare(older, 42), 42)
    assert len(champion.product_ids) < prepared.extra["products"].height
    judged = family.FAMILY.evaluate(champion, prepared)
    assert judged.oracle is not None and math.isfinite(judged.oracle["ndcg_at_10"])
    assert math.isfinite(judged.metrics["ndcg_at_10"]) and judged.details["scored_customers"] > 0
    assert set(judged.details["ndcg_by_activity"]) == {"model", "popularity", "recent_popularity", "oracle"}
