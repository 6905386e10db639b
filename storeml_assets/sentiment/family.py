"""The review-sentiment family on the generic lifecycle: ``FAMILY``.

- reads ``raw.reviews`` (title, body, rating, time), ``raw.products`` and ``raw.categories`` (each
  review's top-level category, for the consistency gate) and, when the simulator wrote it,
  ``ground_truth.review_sentiment`` (the oracle; absent with external sources, so not required);
- splits by time: the newest 20% of the reviews are the holdout, the reviews before them train (at
  most the newest :data:`MAX_TRAINING_REVIEWS`);
- fits :class:`~storeml_assets.sentiment.model.SentimentModel` and evaluates it beside the majority
  class and a plain unigram TF-IDF + logistic regression, and beside the oracle (the planted text
  sentiment and its probabilities P(rating class | text sentiment));
- gates: labelled reviews, macro-F1 floor, no regression, Brier, text drift, per-category macro-F1;
- writes ``features.review_sentiment`` (review id, class, probabilities, model version).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import polars as pl

from storeml_assets.lifecycle import gates as lg
from storeml_assets.lifecycle.generic import (
    DriftResult,
    Evaluation,
    GateContext,
    GenericFamily,
    Prepared,
    ServedInputs,
    Skip,
    require_rows,
)
from storeml_assets.ml.gates import GateResult
from storeml_assets.sentiment import metrics as sm
from storeml_assets.sentiment.drift import THRESHOLDS, TextReference, text_drift
from storeml_assets.sentiment.model import (
    CLASSES,
    DEFAULT_PARAMS,
    PROBABILITY_COLUMNS,
    SentimentModel,
    rating_to_class,
)
from storeml_assets.sentiment.text import join_review

NAME = "review_sentiment"
PURPOSE = "sentiment analysis needs reviews"
MIN_REVIEWS = 200
HOLDOUT_SHARE = 0.2
#: The newest reviews before the holdout that train at most: beyond this, accuracy has saturated
#: (docs/families/sentiment.md) and training time keeps growing.
MAX_TRAINING_REVIEWS = 100_000
OUTPUT_KEY = dg.AssetKey(["features", "review_sentiment"])
_SCORE_BATCH = 20_000

GATE_DEFAULTS: dict[str, float] = {
    "min_reviews": MIN_REVIEWS,
    "macro_f1_floor": 0.5,
    "macro_f1_tolerance": 0.02,
    "brier_max": 0.45,
    "brier_tolerance": 0.02,
    "drift_share_max": 0.5,
    "category_f1_floor": 0.5,
    "category_f1_gap_max": 0.25,
    "min_category_reviews": 50,
}


def _top_categories(frames: Mapping[str, pl.DataFrame]) -> pl.DataFrame | None:
    """product_id -> top-level category name, or None without products and categories."""
    products, categories = frames.get("products"), frames.get("categories")
    if products is None or categories is None:
        return None
    parent = dict(zip(categories["category_id"].to_list(), categories["parent_category_id"].to_list(), strict=True))
    names = dict(zip(categories["category_id"].to_list(), categories["name"].to_list(), strict=True))

    def top(category_id: int | None) -> str:
        seen = 0
        while category_id is not None and parent.get(category_id) is not None and seen < 10:
            category_id, seen = parent[category_id], seen + 1
        return str(names.get(category_id, "unknown"))

    return products.select("product_id", pl.col("category_id").map_elements(top, return_dtype=pl.String)
                           .alias("category"))


def _reviews(frames: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """Labelled reviews with their model text and category, oldest first."""
    reviews = require_rows(frames, "reviews", MIN_REVIEWS, PURPOSE)
    reviews = reviews.filter(pl.col("rating").is_between(1, 5))
    require_rows({"reviews": reviews}, "reviews", MIN_REVIEWS, f"{PURPOSE} rated 1 to 5 stars")
    texts = [join_review(t, b) for t, b in zip(reviews["title"].to_list(), reviews["body"].to_list(), strict=True)]
    out = reviews.select("review_id", "product_id", "created_at", "title", "body").with_columns(
        pl.Series("text", texts, dtype=pl.String),
        pl.Series("label", rating_to_class(reviews["rating"].to_numpy()), dtype=pl.Int64),
    )
    categories = _top_categories(frames)
    out = (out.join(categories, on="product_id", how="left") if categories is not None
           else out.with_columns(pl.lit(None, pl.String).alias("category")))
    return out.with_columns(pl.col("category").fill_null("unknown")).sort("created_at", "review_id")


def _oracle_columns(holdout: pl.DataFrame, frames: Mapping[str, pl.DataFrame]) -> tuple[pl.DataFrame, str]:
    truth = frames.get("review_sentiment")
    if truth is None or truth.is_empty():
        return holdout, "no ground_truth.review_sentiment (external sources): the oracle is unknown"
    truth = truth.select("review_id", "text_sentiment", "oracle_p_negative", "oracle_p_neutral", "oracle_p_positive")
    joined = holdout.join(truth, on="review_id", how="left")
    missing = joined["text_sentiment"].null_count()
    if missing:
        return holdout, f"ground_truth.review_sentiment lacks {missing} of {holdout.height} holdout reviews"
    return joined, ""


def prepare(frames: Mapping[str, pl.DataFrame], seed: int) -> Prepared:
    """The newest 20% of the labelled reviews are the holdout; the (at most :data:`MAX_TRAINING_REVIEWS`)
    newest reviews before them train."""
    reviews = _reviews(frames)
    cut = int(round(reviews.height * (1 - HOLDOUT_SHARE)))
    train, holdout = reviews.slice(max(cut - MAX_TRAINING_REVIEWS, 0), min(cut, MAX_TRAINING_REVIEWS)), reviews.slice(cut)
    counts = np.bincount(train["label"].to_numpy(), minlength=len(CLASSES))
    if (counts < 3).any():
        raise Skip(f"reviews: the training window has {dict(zip(CLASSES, counts.tolist(), strict=True))} "
                   f"reviews per class; every class needs at least 3 ({PURPOSE})")
    holdout, oracle_reason = _oracle_columns(holdout, frames)
    reference = TextReference.of(train["text"].to_list(), train["label"].to_numpy())
    return Prepared(train=train, holdout=holdout, training_rows=train.height,
                    window=(train["created_at"].min(), train["created_at"].max()),
                    extra={"oracle_reason": oracle_reason, "reference": reference})


def fit(prepared: Prepared, seed: int) -> SentimentModel:
    train = prepared.train
    return SentimentModel(dict(DEFAULT_PARAMS)).fit(train["text"].to_list(), train["label"].to_numpy(), seed)


def _baselines(prepared: Prepared) -> dict[str, dict[str, float]]:
    """Majority class and unigram TF-IDF + logistic regression, measured once per prepared data."""
    if "baselines" not in prepared.extra:
        train, holdout = prepared.train, prepared.holdout
        y_train, y_holdout = train["label"].to_numpy(), holdout["label"].to_numpy()
        prepared.extra["baselines"] = {
            "majority": sm.majority_baseline(y_train, y_holdout),
            "unigram_logreg": sm.unigram_baseline(train["text"].to_list(), y_train, holdout["text"].to_list(),
                                                  y_holdout),
        }
    return prepared.extra["baselines"]


def evaluate(model: SentimentModel, prepared: Prepared) -> Evaluation:
    """Holdout metrics of ``model`` beside the baselines and the oracle; confusion matrix and categories."""
    holdout = prepared.holdout
    labels = holdout["label"].to_numpy()
    proba = model.predict_proba_texts(holdout["text"].to_list())
    predicted = model.decide(proba)
    metrics = sm.classification_metrics(labels, predicted, proba)
    oracle, reason = None, str(prepared.extra.get("oracle_reason", ""))
    if not reason:
        oracle_class = np.array([CLASSES.index(s) for s in holdout["text_sentiment"].to_list()], dtype=np.int64)
        oracle_proba = holdout.select("oracle_p_negative", "oracle_p_neutral", "oracle_p_positive").to_numpy()
        oracle = sm.classification_metrics(labels, oracle_class, oracle_proba)
    per_category = sm.per_category_macro_f1(labels, predicted, holdout["category"].to_numpy(),
                                            int(GATE_DEFAULTS["min_category_reviews"]))
    matrix = sm.confusion(labels, predicted)
    baselines = _baselines(prepared)
    return Evaluation(
        metrics=metrics, baselines=baselines, oracle=oracle, oracle_reason=reason,
        details={"confusion_matrix": matrix, "classes": list(CLASSES), "per_category": per_category,
                 "holdout_reviews": holdout.height,
                 "predicted_mix": (np.bincount(predicted, minlength=3) / max(len(predicted), 1)).tolist()},
        markdown=sm.evaluation_markdown(metrics, baselines, oracle, matrix, per_category),
    )


def category_consistency(ctx: GateContext) -> GateResult:
    """Gate 6: every category's holdout macro-F1 at or above a floor, and the spread between the best
    and the worst category at most a gap (categories with too few holdout reviews are not judged)."""
    per_category: dict[str, Any] = ctx.candidate.details.get("per_category", {})
    minimum = float(ctx.thresholds["min_category_reviews"])
    judged = {c: v["macro_f1"] for c, v in per_category.items() if v["reviews"] >= minimum}
    floor, gap_max = float(ctx.thresholds["category_f1_floor"]), float(ctx.thresholds["category_f1_gap_max"])
    threshold = {"floor": floor, "gap_max": gap_max, "min_category_reviews": minimum}
    if not judged:
        return GateResult("category_consistency", True, None, threshold,
                          f"no category has {int(minimum)} holdout reviews: not judged")
    worst = min(judged, key=judged.__getitem__)
    gap = max(judged.values()) - judged[worst]
    problems = [f"{c} macro_f1 {v:.4f} < floor {floor}" for c, v in judged.items() if v < floor]
    if gap > gap_max:
        problems.append(f"macro_f1 gap {gap:.4f} > {gap_max}")
    reason = "; ".join(problems) or (f"{len(judged)} categories, worst {worst} {judged[worst]:.4f} >= {floor}, "
                                     f"gap {gap:.4f} <= {gap_max}")
    return GateResult("category_consistency", not problems, {"per_category": judged, "gap": gap}, threshold, reason)


def gates(ctx: GateContext) -> list[GateResult]:
    return [
        lg.data_volume(ctx, "min_reviews"),
        lg.floors(ctx, {"macro_f1": "macro_f1_floor"}),
        lg.no_regression(ctx, "macro_f1", "macro_f1_tolerance"),
        lg.bound(ctx, "calibration", "brier", maximum="brier_max", champion_tolerance="brier_tolerance"),
        lg.data_drift(ctx, "drift_share_max"),
        category_consistency(ctx),
    ]


def drift(prepared: Prepared, frames_now: Mapping[str, pl.DataFrame]) -> DriftResult:
    """Text statistics of the reviews written after the training window against the training reviews."""
    reviews = frames_now.get("reviews")
    if reviews is None:
        return DriftResult({}, [], None, False, "reviews is missing: drift not judged")
    assert prepared.window is not None
    since = prepared.window[1]
    new = reviews.filter(pl.col("created_at") > since)
    texts = [join_review(t, b) for t, b in zip(new["title"].to_list(), new["body"].to_list(), strict=True)]
    return text_drift(prepared.extra["reference"], texts, f"reviews written after {since}")


def output(model: SentimentModel, frames: Mapping[str, pl.DataFrame], version: str) -> pl.DataFrame:
    """Every review scored: class, probabilities and the model version (``features.review_sentiment``)."""
    reviews = frames.get("reviews")
    if reviews is None:
        raise Skip(f"reviews is missing ({PURPOSE})")
    parts = []
    for start in range(0, reviews.height, _SCORE_BATCH):
        batch = reviews.slice(start, _SCORE_BATCH)
        scored = model.score_frame(batch.select("title", "body").to_pandas())
        parts.append(pl.DataFrame({
            "review_id": batch["review_id"],
            "sentiment": pl.Series(scored["sentiment"].astype(str).tolist(), dtype=pl.String),
            **{c: pl.Series(scored[c].to_numpy(dtype=np.float64)) for c in PROBABILITY_COLUMNS},
        }))
    schema = {"review_id": pl.Int64, "sentiment": pl.String, **dict.fromkeys(PROBABILITY_COLUMNS, pl.Float64)}
    scored_all = pl.concat(parts) if parts else pl.DataFrame(schema=schema)
    return scored_all.with_columns(pl.lit(version, pl.String).alias("model_version"))


def input_example(prepared: Prepared) -> pd.DataFrame:
    """Three holdout reviews' title and body: the serving input."""
    return prepared.holdout.select("title", "body").head(3).to_pandas()


#: The newest reviews the served texts are compared with, and what is compared.
SERVED_REFERENCE_REVIEWS = 20_000
TEXT_LENGTH_COLUMNS = ("title_chars", "body_chars", "body_words")


def text_lengths(frame: pd.DataFrame) -> pd.DataFrame:
    """Title and body characters and body words of each row of ``frame`` (a missing text counts as empty)."""

    def texts(column: str) -> pd.Series:
        values = frame[column] if column in frame.columns else pd.Series([None] * len(frame), index=frame.index)
        return values.map(lambda v: v if isinstance(v, str) else "")

    title, body = texts("title"), texts("body")
    return pd.DataFrame({"title_chars": title.str.len().astype(float), "body_chars": body.str.len().astype(float),
                         "body_words": body.str.split().str.len().astype(float)}, index=frame.index)


FAMILY = GenericFamily(
    name=NAME,
    group="sentiment",
    description="Review sentiment (negative 1-2 stars, neutral 3, positive 4-5) from title and body, "
                "with calibrated probabilities.",
    purpose=PURPOSE,
    tables={
        "raw.reviews": ("review_id", "product_id", "rating", "title", "body", "created_at"),
        "raw.products": ("product_id", "category_id"),
        "raw.categories": ("category_id", "name", "parent_category_id"),
        "ground_truth.review_sentiment": ("review_id", "text_sentiment", "oracle_p_negative", "oracle_p_neutral",
                                          "oracle_p_positive"),
    },
    requires={"reviews": MIN_REVIEWS},
    prepare=prepare,
    fit=fit,
    evaluate=evaluate,
    gates=gates,
    gate_defaults=GATE_DEFAULTS,
    drift=drift,
    output=output,
    output_key=OUTPUT_KEY,
    input_example=input_example,
    metrics=sm.METRICS,
    primary_metric="macro_f1",
    code_version="1",
    params={"holdout_share": HOLDOUT_SHARE, "max_training_reviews": MAX_TRAINING_REVIEWS, **{k: str(v) for k, v in DEFAULT_PARAMS.items()},
            "drift_thresholds": str(THRESHOLDS)},
    served_class="sentiment",
    # served-input drift: the served texts' lengths against the newest reviews'
    served_inputs=ServedInputs(
        reference_sql=f"select title, body from raw.reviews order by created_at desc limit {SERVED_REFERENCE_REVIEWS}",
        columns=TEXT_LENGTH_COLUMNS,
        derive=text_lengths,
    ),
)
