"""A tiny family in its own terms for the generic-lifecycle tests: the order value of a channel, predicted as
the median of the training orders of that channel (metric: mean absolute error, lower is better)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
import mlflow.pyfunc
import pandas as pd
import polars as pl

from storeml_assets.lifecycle import gates as g
from storeml_assets.lifecycle.generic import DriftResult, Evaluation, GateContext, GenericFamily, Prepared
from storeml_assets.ml.gates import GateResult


class MedianByChannel(mlflow.pyfunc.PythonModel):
    """Predicts the training median order value of each channel (the overall median for an unknown one)."""

    def __init__(self, medians: dict[str, float], overall: float) -> None:
        self.medians = medians
        self.overall = overall

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.Series:
        return model_input["channel"].map(self.medians).fillna(self.overall).astype(float)


def prepare(frames: Mapping[str, pl.DataFrame], seed: int) -> Prepared:
    orders = frames["orders"].sort("ordered_at")
    cut = int(orders.height * 0.8)
    train, holdout = orders.head(cut), orders.slice(cut)
    times = orders.get_column("ordered_at")
    return Prepared(train=train, holdout=holdout, training_rows=train.height, window=(times.min(), times.max()))


def fit(prepared: Prepared, seed: int) -> MedianByChannel:
    train: pl.DataFrame = prepared.train
    medians = train.group_by("channel").agg(pl.col("total_amount").median())
    return MedianByChannel({str(c): float(v) for c, v in medians.iter_rows()},
                           float(train.get_column("total_amount").median() or 0.0))


def _mae(predicted: pd.Series, actual: pd.Series) -> float:
    return float((predicted - actual).abs().mean())


def evaluate(model: MedianByChannel, prepared: Prepared) -> Evaluation:
    holdout = prepared.holdout.to_pandas()
    actual = holdout["total_amount"].astype(float)
    predicted = model.predict(None, holdout)
    per_channel = {str(c): _mae(predicted[holdout["channel"] == c], actual[holdout["channel"] == c])
                   for c in sorted(holdout["channel"].unique())}
    mean = float(prepared.train.get_column("total_amount").mean() or 0.0)
    return Evaluation(metrics={"mae": _mae(predicted, actual)},
                      baselines={"training_mean": {"mae": _mae(pd.Series(mean, index=actual.index), actual)}},
                      oracle_reason="no planted truth for order values", details={"per_channel_mae": per_channel},
                      markdown="| channel | MAE |\n|---|---:|\n" + "\n".join(f"| {c} | {v:.2f} |"
                                                                      for c, v in per_channel.items()))


def channel_consistency(ctx: GateContext) -> GateResult:
    per_channel = ctx.candidate.details.get("per_channel_mae", {})
    gap = max(per_channel.values()) - min(per_channel.values()) if per_channel else 0.0
    limit = ctx.thresholds["channel_mae_gap_max"]
    return GateResult("channel_consistency", gap <= limit, {"gap": gap}, limit, f"channel MAE gap {gap:.2f} vs {limit}")


def gates(ctx: GateContext) -> list[GateResult]:
    return [
        g.data_volume(ctx, "min_orders"),
        g.floors(ctx, {"mae": "mae_max"}, higher_is_better={"mae": False}),
        g.no_regression(ctx, "mae", "mae_tolerance", higher_is_better=False),
        g.bound(ctx, "calibration", "mae", maximum="mae_max"),
        g.data_drift(ctx, "drift_share_max"),
        channel_consistency(ctx),
    ]


def drift(prepared: Prepared, frames: Mapping[str, pl.DataFrame]) -> DriftResult:
    before = float(prepared.train.get_column("total_amount").mean() or 0.0)
    after = float(prepared.holdout.get_column("total_amount").mean() or 0.0)
    shift = abs(after - before) / before if before else 0.0
    drifted = ["mean_order_value_shift"] if shift > 0.5 else []
    return DriftResult({"mean_order_value_shift": shift}, drifted, float(len(drifted)), True,
                       f"mean order value moved {shift:.1%}")


def output(model: MedianByChannel, frames: Mapping[str, pl.DataFrame], version: str) -> pl.DataFrame:
    channels = sorted(frames["orders"].get_column("channel").unique().to_list())
    predicted = model.predict(None, pd.DataFrame({"channel": channels}))
    return pl.DataFrame({"channel": channels, "expected_order_value": predicted.to_list(),
                         "model_version": [version] * len(channels)})


FAMILY = GenericFamily(
    name="order_value",
    group="order_value",
    description="Order value per channel (the median of the training orders): the generic lifecycle's test family.",
    purpose="order-value estimates need orders",
    tables={"raw.orders": ("order_id", "channel", "total_amount", "ordered_at")},
    requires={"orders": 200},
    prepare=prepare,
    fit=fit,
    evaluate=evaluate,
    gates=gates,
    gate_defaults={"min_orders": 200, "mae_max": 1e9, "mae_tolerance": 0.0, "drift_share_max": 0.5,
                   "channel_mae_gap_max": 1e9},
    drift=drift,
    output=output,
    output_key=dg.AssetKey(["features", "order_value_estimates"]),
    input_example=lambda prepared: prepared.train.select("channel").head(3).to_pandas(),
    metrics={"mae": False},
    primary_metric="mae",
)
