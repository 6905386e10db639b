"""The recommendations family in the generic lifecycle: what it reads, its six gates, its drift measures
(interaction mix and catalogue churn) and its output table ``features.recommendations``.

Gates, in the family's terms:

- ``data_volume``: at least ``min_events`` weighted training events, no failed blocking check upstream;
- ``performance_floor``: NDCG@10 at least ``ndcg_floor`` and at least ``min_lift_over_popularity`` times
  global popularity's NDCG@10 on the same customers (a recommender that loses to the best-seller list is
  not worth serving);
- ``no_regression``: NDCG@10 no worse than the champion's on the same holdout minus ``ndcg_tolerance``;
- ``calibration``: a ranking has no probability to calibrate; its counterpart is the spread of the
  recommendations over the catalogue, catalogue ``coverage`` at least ``coverage_min`` (a model collapsed
  onto the best sellers fails it);
- ``data_drift``: the share of drifted measures at most ``drift_share_max``;
- ``activity_consistency``: in both light and heavy customers (training products touched at most / above
  the median), NDCG@10 at least ``(1 - activity_tolerance)`` times popularity's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta

import dagster as dg
import numpy as np
import pandas as pd
import polars as pl
import scipy.sparse as sp

from storeml_assets.lifecycle import gates as g
from storeml_assets.lifecycle.generic import DriftResult, GateContext, GenericFamily, IdLookup, Prepared
from storeml_assets.ml.gates import GateResult
from storeml_assets.recommendations import data, evaluation, model

OUTPUT_KEY = dg.AssetKey(["features", "recommendations"])
OUTPUT_K = 10
#: Products of the drift's "popular set": the most bought before and after the cutoff.
POPULAR_SET = 50
DRIFT_THRESHOLDS = {"interaction_mix_distance": 0.10, "new_product_event_share": 0.05, "popular_set_churn": 0.70}


# -- gates -----------------------------------------------------------------------------------------

def performance_floor(ctx: GateContext) -> GateResult:
    """NDCG@10 above an absolute floor and above a multiple of popularity's on the same customers."""
    got = ctx.candidate.metrics.get("ndcg_at_10", float("nan"))
    popularity = ctx.candidate.baselines.get("popularity", {}).get("ndcg_at_10", float("nan"))
    floor, lift = float(ctx.thresholds["ndcg_floor"]), float(ctx.thresholds["min_lift_over_popularity"])
    problems = []
    if not math.isfinite(got) or got < floor:
        problems.append(f"ndcg_at_10 {got:.4f} < floor {floor}")
    if math.isfinite(popularity) and (not math.isfinite(got) or got < lift * popularity):
        problems.append(f"ndcg_at_10 {got:.4f} < {lift} x popularity {popularity:.4f}")
    reason = "; ".join(problems) or f"ndcg_at_10 {got:.4f} >= floor {floor} and >= {lift} x popularity {popularity:.4f}"
    return GateResult("performance_floor", not problems, {"ndcg_at_10": got, "popularity_ndcg_at_10": popularity},
                      {"ndcg_floor": floor, "min_lift_over_popularity": lift}, reason)


def activity_consistency(ctx: GateContext) -> GateResult:
    """The model at least ``(1 - activity_tolerance)`` x popularity's NDCG@10 among light and heavy customers."""
    segments = ctx.candidate.details.get("ndcg_by_activity", {})
    mine, theirs = segments.get("model", {}), segments.get("popularity", {})
    tolerance = float(ctx.thresholds["activity_tolerance"])
    problems, value = [], {}
    for segment in ("light", "heavy"):
        got, base = mine.get(segment, float("nan")), theirs.get(segment, float("nan"))
        value[segment] = {"model": got, "popularity": base}
        if not (math.isfinite(got) and math.isfinite(base)):
            continue  # an empty segment is not judged
        if got < (1.0 - tolerance) * base:
            problems.append(f"{segment} customers: ndcg_at_10 {got:.4f} < (1 - {tolerance}) x popularity {base:.4f}")
    reason = "; ".join(problems) or "ndcg_at_10 holds against popularity among light and heavy customers"
    return GateResult("activity_consistency", not problems, value, tolerance, reason)


def gates(ctx: GateContext) -> list[GateResult]:
    return [
        g.data_volume(ctx, "min_events"),
        performance_floor(ctx),
        g.no_regression(ctx, "ndcg_at_10", "ndcg_tolerance"),
        g.bound(ctx, "calibration", "coverage", minimum="coverage_min"),
        g.data_drift(ctx, "drift_share_max"),
        activity_consistency(ctx),
    ]


# -- drift -----------------------------------------------------------------------------------------

def _mix(frame: pl.DataFrame) -> dict[str, float]:
    counts = frame.group_by("interaction_type").len()
    total = max(int(counts.get_column("len").sum()), 1)
    return {str(t): n / total for t, n in counts.iter_rows()}


def _top(frame: pl.DataFrame, n: int) -> set[int]:
    bought = frame.filter(pl.col("interaction_type") == "purchase").group_by("product_id").len()
    return set(bought.sort(["len", "product_id"], descending=[True, False]).head(n).get_column("product_id").to_list())


def drift(prepared: Prepared, frames: Mapping[str, pl.DataFrame]) -> DriftResult:
    """The last 14 days against the training window: interaction mix (total-variation distance of the shares
    of views, clicks, cart adds, wishlists and purchases), the share of recent events on products the
    training never saw (catalogue churn), and the churn of the most-bought set (1 - Jaccard)."""
    train: pl.DataFrame = prepared.train
    recent: pl.DataFrame = prepared.extra["recent"]
    if recent.height < 100:
        return DriftResult({}, [], None, False, f"only {recent.height} events after the cutoff (< 100): not judged")
    before, after = _mix(train), _mix(recent)
    kinds = set(before) | set(after)
    mix = 0.5 * sum(abs(before.get(k, 0.0) - after.get(k, 0.0)) for k in kinds)
    seen = train.select("product_id").unique()
    new_share = recent.join(seen, on="product_id", how="anti").height / recent.height
    top_before, top_after = _top(train, POPULAR_SET), _top(recent, POPULAR_SET)
    union = top_before | top_after
    churn = 1.0 - len(top_before & top_after) / len(union) if union else 0.0
    measures = {"interaction_mix_distance": mix, "new_product_event_share": new_share, "popular_set_churn": churn}
    drifted = [name for name, value in measures.items() if value > DRIFT_THRESHOLDS[name]]
    share = len(drifted) / len(measures)
    reason = ", ".join(f"{k} {v:.3f} (limit {DRIFT_THRESHOLDS[k]})" for k, v in measures.items())
    return DriftResult(measures, drifted, share, True, reason)


# -- output ----------------------------------------------------------------------------------------

def recommend_active(recommender: model.Recommender, frames: Mapping[str, pl.DataFrame],
                     k: int = OUTPUT_K) -> pl.DataFrame:
    """Top ``k`` products (customer_id, rank, product_id, score, source) for every customer with an event in
    the last :data:`~.data.ACTIVE_DAYS` days, excluding everything they bought so far. Customers the model
    was trained on use their fitted representation; newer ones are folded in from their current events."""
    every = data.events(frames)
    newest = every.get_column("occurred_at").max()
    assert isinstance(newest, datetime)
    active = np.sort(every.filter(pl.col("occurred_at") >= newest - timedelta(days=data.ACTIVE_DAYS))
                     .get_column("customer_id").unique().to_numpy())
    product_ids = recommender.product_ids
    purchases = every.filter(pl.col("interaction_type") == "purchase")
    bought = model.interaction_matrix(purchases.filter(pl.col("customer_id").is_in(active.tolist())), product_ids,
                                      column="none")
    exclude = _align(bought, active)
    known = np.array([int(c) in recommender._row for c in active], dtype=bool)
    parts = []
    if known.any():
        rows = np.array([recommender._row[int(c)] for c in active[known]], dtype=np.int64)
        cols, scores = recommender.recommend_rows(recommender.history.values[rows], exclude[np.nonzero(known)[0]], k,
                                                  rows=rows)
        parts.append((active[known], cols, scores, "model"))
    if (~known).any():
        newcomers = active[~known]
        current = model.interaction_matrix(
            data.weigh(every.filter(pl.col("customer_id").is_in(newcomers.tolist())), newest), product_ids)
        cols, scores = recommender.recommend_rows(_align(current, newcomers), exclude[np.nonzero(~known)[0]], k)
        parts.append((newcomers, cols, scores, "model"))
    frames_out = [pl.DataFrame({
        "customer_id": np.repeat(ids, cols.shape[1]).astype(np.int64),
        "rank": np.tile(np.arange(1, cols.shape[1] + 1, dtype=np.int32), len(ids)),
        "product_id": product_ids[cols.ravel()].astype(np.int64),
        "score": scores.ravel().astype(np.float64),
    }) for ids, cols, scores, _ in parts]
    if not frames_out:
        return pl.DataFrame(schema={"customer_id": pl.Int64, "rank": pl.Int32, "product_id": pl.Int64,
                                    "score": pl.Float64})
    return pl.concat(frames_out).sort("customer_id", "rank")


def _align(matrix: model.Matrix, customer_ids: np.ndarray) -> sp.csr_matrix:
    """``matrix`` with one row per entry of ``customer_ids`` (empty rows for customers it lacks)."""
    pos = np.searchsorted(matrix.customer_ids, customer_ids)
    pos = np.minimum(pos, max(len(matrix.customer_ids) - 1, 0))
    has = (matrix.customer_ids[pos] == customer_ids) if len(matrix.customer_ids) else np.zeros(len(customer_ids), bool)
    select = sp.csr_matrix((np.ones(int(has.sum())), (np.nonzero(has)[0], pos[has])),
                           shape=(len(customer_ids), matrix.values.shape[0]))
    return (select @ matrix.values).tocsr()


def output(recommender: model.Recommender, frames: Mapping[str, pl.DataFrame], version: str) -> pl.DataFrame:
    """``features.recommendations``: ``customer_id``, ``rank``, ``product_id``, ``score``, ``model_version``."""
    return recommend_active(recommender, frames).with_columns(model_version=pl.lit(version, dtype=pl.String))


def input_example(prepared: Prepared) -> pd.DataFrame:
    """One request of each kind: a customer, an anonymous basket of two products, similar products."""
    train: pl.DataFrame = prepared.train
    customer = int(train.get_column("customer_id")[0])
    products = train.filter(pl.col("interaction_type") == "purchase").get_column("product_id").unique().sort()
    first, second = int(products[0]), int(products[min(1, len(products) - 1)])
    return pd.DataFrame({
        "kind": ["customer", "basket", "similar"],
        "customer_id": [float(customer), float("nan"), float("nan")],
        "product_ids": ["", f"{first},{second}", ""],
        "product_id": [float("nan"), float("nan"), float(first)],
    })


FAMILY = GenericFamily(
    name="recommendations",
    group="recommendations",
    description="Product recommendations from implicit feedback (views, clicks, cart adds, wishlists, purchases "
    "weighted by strength and recency): an implicit ALS model scored on the purchases of the 14 days after a "
    "cutoff beside global and recent popularity and the planted-taste oracle.",
    purpose="recommendations need product interactions and orders",
    tables={
        "raw.user_interactions": ("user_id", "product_id", "interaction_type", "occurred_at"),
        "raw.orders": ("order_id", "user_id", "ordered_at", "status"),
        "raw.order_items": ("order_id", "product_id"),
        "raw.products": ("product_id", "category_id", "brand", "is_active"),
        "ground_truth.customer_taste": ("user_id", "kind", "category_id", "brand", "affinity"),
        "ground_truth.product_appeal": ("product_id", "category_id", "brand", "popularity"),
    },
    requires={"user_interactions": 500, "orders": 100, "order_items": 100, "products": data.MIN_PRODUCTS},
    prepare=data.prepare,
    fit=model.fit,
    evaluate=evaluation.evaluate,
    gates=gates,
    gate_defaults={"min_events": data.MIN_EVENTS, "ndcg_floor": 0.02, "min_lift_over_popularity": 1.0,
                   "ndcg_tolerance": 0.01, "coverage_min": 0.05, "drift_share_max": 0.5,
                   "activity_tolerance": 0.1},
    drift=drift,
    output=output,
    output_key=OUTPUT_KEY,
    input_example=input_example,
    metrics={"ndcg_at_10": True, "map_at_10": True, "precision_at_10": True, "recall_at_10": True, "coverage": True},
    primary_metric="ndcg_at_10",
    params={"algorithm": model.ALGORITHM, **{f"als_{k}": v for k, v in model.ALS_PARAMS.items()},
            "popularity_prior": model.POPULARITY_PRIOR, "holdout_days": data.HOLDOUT_DAYS,
            "recency_half_life_days": data.RECENCY_HALF_LIFE_DAYS, "excludes_already_bought": True},
    # customer_ids: each id a customer request (no read: a customer the model does not know gets the
    # popular products, as in an inline request)
    id_lookup=IdLookup(fields={"kind": "customer", "product_ids": ""}),
    served_class="source",
)
