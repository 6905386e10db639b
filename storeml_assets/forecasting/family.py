"""The demand-forecasting family in the generic lifecycle: its data, backtest, six gates, drift and output
``features.demand_forecast``.

Evaluation is a rolling-origin backtest: :data:`~.data.BACKTEST_WINDOWS` origins one horizon (28 days)
apart, the last ending on the last day of data. Each model is fitted once per series on the days before
the first (selection) window and carried forward to every later origin (its state updated on the data up to
the origin, :data:`~.model.CV_REFIT`); the forecaster's model per series is the one with the lowest error
over the windows before that origin (the first backtest origin chooses on :data:`~.data.SELECTION_WINDOWS`
earlier window), so the backtest measures the whole procedure, choice included, on data it never chose on.
The weekly seasonal naive runs in the same cross-validation (the baseline); the oracle is the simulator's
expected demand on the same days. The backtest depends on the candidates and the data, not on the fitted
forecaster: the decision step's evaluation of the champion takes it from the candidate's stored evaluation
when both are the same (``backtest_key`` in the details) instead of cross-validating again.

Gates, in the family's terms:

- ``data_volume``: at least ``min_series_days`` training series-days, no failed blocking check upstream;
- ``performance_floor``: WAPE below ``wape_max`` (1.0: no better than forecasting zero) and at most
  ``relative_wape_max`` x the seasonal naive's;
- ``no_regression``: WAPE no worse than the champion's on the same backtest plus ``wape_tolerance``;
- ``calibration``: the 80% intervals cover between ``coverage_80_min`` and ``coverage_80_max`` of the
  actuals (too narrow and too wide both fail);
- ``data_drift``: the share of drifted measures (demand level, weekly profile, category mix) at most
  ``drift_share_max``;
- ``forecast_consistency``: the next 28 days' forecast total of the categories within
  ``level_ratio_min``..``level_ratio_max`` times the last 28 days' actual units (no collapse, no explosion).
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import polars as pl

from storeml_assets.forecasting import data, model
from storeml_assets.forecasting.data import BACKTEST_WINDOWS, HORIZON, SELECTION_WINDOWS
from storeml_assets.forecasting.model import BASELINE, CANDIDATES, DemandForecaster
from storeml_assets.lifecycle import gates as g
from storeml_assets.lifecycle.generic import (
    CANDIDATE_EVALUATION,
    DriftResult,
    Evaluation,
    GateContext,
    GenericFamily,
    Prepared,
    Skip,
)
from storeml_assets.ml.gates import GateResult
from storeml_assets.settings import get_settings

OUTPUT_KEY = dg.AssetKey(["features", "demand_forecast"])
DRIFT_THRESHOLDS = {"demand_level_shift": 0.35, "weekly_profile_shift": 0.05, "category_mix_shift": 0.10}
OUTPUT_COLUMNS = ("series", "date", "forecast", "lower_80", "upper_80", "lower_95", "upper_95", "model",
                  "model_version")


# -- prepare, fit ----------------------------------------------------------------------------------

def prepare(frames: Mapping[str, pl.DataFrame], seed: int, *, top_n: int | None = None) -> Prepared:
    """Daily units per leaf category and top-``top_n`` product (default ``STOREML_FORECAST_TOP_N``) over the
    whole history (gaps filled with zeros), the backtest's origins, and the expected demand when the
    simulator planted one."""
    if top_n is None:
        top_n = get_settings().forecast_top_n
    lines = data.order_lines(frames)
    if lines.is_empty():
        raise Skip("orders have no lines (demand forecasting needs order items)")
    first, last = lines.get_column("ds").min(), lines.get_column("ds").max()
    assert isinstance(first, date) and isinstance(last, date)
    days = (last - first).days + 1
    if days < data.MIN_DAYS:
        raise Skip(f"orders cover {days} days < {data.MIN_DAYS} (demand forecasting backtests "
                   f"{BACKTEST_WINDOWS + SELECTION_WINDOWS} windows of {HORIZON} days)")
    categories = sorted(int(c) for c in frames["products"].get_column("category_id").drop_nulls().unique().to_list())
    series = data.build_series(lines, data.top_products(lines, top_n), categories)
    first_origin = last - timedelta(days=BACKTEST_WINDOWS * HORIZON)
    expected = frames.get("expected_demand")
    extra: dict[str, Any] = {"series": series, "first_origin": first_origin, "top_n": top_n,
                             "expected": expected.rename({"series": "unique_id", "date": "ds"})
                             if expected is not None and expected.height else None}
    return Prepared(train=series.frame.filter(pl.col("ds") <= first_origin), holdout=series.frame,
                    training_rows=series.frame.height, window=(first, last), extra=extra,
                    params={"top_n_products": top_n})


def _cv(prepared: Prepared, models: tuple[str, ...]) -> pd.DataFrame:
    """The rolling-origin run of ``models`` on ``prepared`` (computed once per prepared data and model set)."""
    cache: dict[tuple[str, ...], pd.DataFrame] = prepared.extra.setdefault("cv", {})
    for known, frame in cache.items():
        if set(models) <= set(known):
            return frame
    series: data.Series = prepared.extra["series"]
    cache[models] = model.cross_validate(series.frame, models, BACKTEST_WINDOWS + SELECTION_WINDOWS,
                                         zero_series=series.zero_series)
    return cache[models]


def fit(prepared: Prepared, seed: int, *, candidates: tuple[str, ...] = CANDIDATES) -> DemandForecaster:
    """Choose each series' model over every rolling-origin window, refit it on the whole history, and
    store the next 28 days."""
    series: data.Series = prepared.extra["series"]
    cv = _cv(prepared, candidates)
    choices = model.choose(cv, candidates)
    choices.update({s: model.ZERO_MODEL for s in series.zero_series})
    forecast = model.forecast_ahead(series.frame, choices, zero_series=series.zero_series)
    return DemandForecaster(candidates, choices, forecast, series.zero_series)


# -- evaluate --------------------------------------------------------------------------------------

def _oracle(prepared: Prepared, backtest: pd.DataFrame, scale: dict[str, float]) -> tuple[dict[str, float] | None, str]:
    expected: pl.DataFrame | None = prepared.extra.get("expected")
    if expected is None:
        return None, "no expected demand (ground_truth.expected_demand absent: real sources)"
    truth = expected.select("unique_id", "ds", "expected_units").to_pandas()
    truth["ds"] = pd.to_datetime(truth["ds"])
    joined = backtest.merge(truth, on=["unique_id", "ds"], how="left")
    missing = int(joined["expected_units"].isna().sum())
    if missing:
        return None, f"expected demand misses {missing} of {len(joined)} backtest series-days"
    scores = model.score(joined, scale, forecast="expected_units").as_dict()
    return {k: v for k, v in scores.items() if not k.startswith("coverage")}, ""


def _level_ratio(forecaster: DemandForecaster, prepared: Prepared) -> float:
    """Forecast units of the categories over the next 28 days / actual units over the last 28 days."""
    series: data.Series = prepared.extra["series"]
    recent = series.frame.filter((pl.col("ds") > series.last_day - timedelta(days=HORIZON))
                                 & pl.col("unique_id").str.starts_with("category:"))
    actual = float(recent.get_column("y").sum())
    ahead = forecaster.forecast[forecaster.forecast["series"].str.startswith("category:")]["forecast"].sum()
    return float(ahead / actual) if actual > 0 else math.nan


def backtest_key(prepared: Prepared, candidates: tuple[str, ...]) -> str:
    """What the backtest's figures depend on besides the code: the series (ids, days, units), the expected
    demand, the candidates, the origins and the cross-validation's settings, as one digest."""
    series: data.Series = prepared.extra["series"]
    digest = hashlib.sha256()
    frames = [series.frame.select("unique_id", "ds", "y")]
    expected: pl.DataFrame | None = prepared.extra.get("expected")
    if expected is not None:
        frames.append(expected.select("unique_id", "ds", "expected_units"))
    for frame in frames:
        digest.update(frame.sort("unique_id", "ds").hash_rows(seed=0).to_numpy().tobytes())
    settings = {"candidates": candidates, "baseline": BASELINE, "windows": BACKTEST_WINDOWS + SELECTION_WINDOWS,
                "horizon": HORIZON, "levels": model.LEVELS, "refit": model.CV_REFIT,
                "first_origin": str(prepared.extra["first_origin"]), "zero_series": series.zero_series}
    digest.update(repr(sorted(settings.items())).encode())
    return digest.hexdigest()


def _backtest(prepared: Prepared, candidates: tuple[str, ...]) -> dict[str, Any]:
    """The figures of choosing among ``candidates`` by cross-validation on ``prepared``: they depend on the
    candidates and the data, not on the fitted forecaster. Taken from the candidate's stored evaluation when
    the decision step handed it over and it was measured on the same data with the same candidates (its
    ``backtest_key``): the champion's evaluation then runs no cross-validation again."""
    key = backtest_key(prepared, candidates)
    stored: Evaluation | None = prepared.extra.get(CANDIDATE_EVALUATION)
    if stored is not None and stored.details.get("backtest_key") == key:
        metrics = {k: v for k, v in stored.metrics.items() if k != "level_ratio"}
        return {"key": key, "source": "candidate evaluation", "metrics": metrics,
                "naive": dict(stored.baselines["seasonal_naive"]), "oracle": stored.oracle,
                "oracle_reason": stored.oracle_reason, "wape_by_kind": stored.details["wape_by_kind"],
                "origins": list(stored.details["backtest_origins"])}
    models = tuple(dict.fromkeys((*candidates, BASELINE)))
    cv = _cv(prepared, models)
    origin = pd.Timestamp(prepared.extra["first_origin"])
    series: data.Series = prepared.extra["series"]
    scale = model.seasonal_scale(series.frame, prepared.extra["first_origin"] + timedelta(days=1))
    backtest = model.selected(cv, candidates, origin)
    naive_backtest = model.baseline(cv, origin)
    metrics = model.score(backtest, scale).as_dict()
    naive = model.score(naive_backtest, scale).as_dict()
    oracle, oracle_reason = _oracle(prepared, backtest, scale)
    metrics["relative_wape"] = metrics["wape"] / naive["wape"] if naive["wape"] > 0 else math.nan
    if oracle is not None:
        metrics["oracle_relative_wape"] = metrics["wape"] / oracle["wape"] if oracle["wape"] > 0 else math.nan
    by_kind = {kind: {"model": model.score(backtest[backtest["unique_id"].str.startswith(kind)], scale).wape,
                      "seasonal_naive": model.score(naive_backtest[naive_backtest["unique_id"].str.startswith(kind)],
                                                    scale).wape}
               for kind in ("category:", "product:")}
    return {"key": key, "source": "cross-validation", "metrics": metrics, "naive": naive, "oracle": oracle,
            "oracle_reason": oracle_reason, "wape_by_kind": by_kind,
            "origins": [str(c.date()) for c in sorted(cv["cutoff"].unique()) if c >= origin]}


def evaluate(forecaster: DemandForecaster, prepared: Prepared) -> Evaluation:
    """The backtest of choosing by cross-validation, beside the weekly seasonal naive and the oracle; the
    forecast's level against the last 28 days."""
    candidates = tuple(m for m in forecaster.candidates if m in CANDIDATES) or (BASELINE,)
    figures = _backtest(prepared, candidates)
    series: data.Series = prepared.extra["series"]
    metrics = {**figures["metrics"], "level_ratio": _level_ratio(forecaster, prepared)}
    naive, oracle = figures["naive"], figures["oracle"]
    chosen = pd.Series(list(forecaster.choices.values())).value_counts().to_dict()
    details = {"wape_by_kind": figures["wape_by_kind"], "models_chosen": {str(k): int(v) for k, v in chosen.items()},
               "series": len(series.ids), "zero_series": series.zero_series,
               "filled_days": [d.isoformat() for d in series.filled_days],
               "backtest_origins": figures["origins"], "horizon_days": HORIZON,
               "backtest_key": figures["key"], "backtest_source": figures["source"]}
    rows = [("model", metrics), ("seasonal naive", naive)] + ([("oracle", oracle)] if oracle else [])
    markdown = "| | mase | wape | bias | coverage_80 | coverage_95 |\n|---|---|---|---|---|---|\n" + "\n".join(
        f"| {name} | " + " | ".join(f"{m.get(k, math.nan):.4f}" for k in ("mase", "wape", "bias", "coverage_80",
                                                                          "coverage_95")) + " |"
        for name, m in rows)
    if series.filled_days:
        markdown += f"\n\n{len(series.filled_days)} days without any order were filled with zeros."
    return Evaluation(metrics=metrics, baselines={"seasonal_naive": naive}, oracle=oracle,
                      oracle_reason=figures["oracle_reason"], details=details, markdown=markdown,
                      plots={"forecast.png": plot(forecaster, series)})


def plot(forecaster: DemandForecaster, series: data.Series, history_days: int = 112) -> bytes:
    """PNG: the last ``history_days`` of the top category and top product, their forecast and 80%/95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    totals = series.frame.group_by("unique_id").agg(pl.col("y").sum()).sort(["y", "unique_id"], descending=[True, False])
    ranked = [str(u) for u in totals.get_column("unique_id").to_list()]
    tops = [next(u for u in ranked if u.startswith(kind)) for kind in ("category:", "product:")
            if any(u.startswith(kind) for u in ranked)]
    fig, axes = plt.subplots(len(tops), 1, figsize=(10, 3.2 * len(tops)), squeeze=False)
    since = series.last_day - timedelta(days=history_days)
    for ax, sid in zip(axes[:, 0], tops, strict=True):
        hist = series.frame.filter((pl.col("unique_id") == sid) & (pl.col("ds") > since))
        ahead = forecaster.forecast[forecaster.forecast["series"] == sid]
        ax.plot(hist.get_column("ds").to_list(), hist.get_column("y").to_list(), color="black", lw=1, label="units")
        if ahead.empty:  # a model fitted before this series existed (a champion judged on a newer catalogue)
            ax.set_title(f"{sid}: daily units (no forecast: the model was fitted without this series)")
        else:
            ax.fill_between(ahead["date"], ahead["lower_95"], ahead["upper_95"], color="tab:blue", alpha=0.15,
                            label="95%")
            ax.fill_between(ahead["date"], ahead["lower_80"], ahead["upper_80"], color="tab:blue", alpha=0.3,
                            label="80%")
            ax.plot(ahead["date"], ahead["forecast"], color="tab:blue", lw=1.5,
                    label=f"forecast ({forecaster.choices.get(sid, '?')})")
            ax.set_title(f"{sid}: daily units, next {HORIZON} days")
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()


# -- gates -----------------------------------------------------------------------------------------

def performance_floor(ctx: GateContext) -> GateResult:
    """WAPE under an absolute ceiling and under a multiple of the seasonal naive's on the same backtest."""
    return g.floors(ctx, {"wape": "wape_max", "relative_wape": "relative_wape_max"},
                    higher_is_better={"wape": False, "relative_wape": False})


def forecast_consistency(ctx: GateContext) -> GateResult:
    """The next 28 days' category total within a band around the last 28 days' actual units."""
    ratio = ctx.candidate.metrics.get("level_ratio", math.nan)
    lo, hi = float(ctx.thresholds["level_ratio_min"]), float(ctx.thresholds["level_ratio_max"])
    passed = math.isfinite(ratio) and lo <= ratio <= hi
    reason = (f"forecast total / last {HORIZON} days' units {ratio:.3f} "
              f"{'within' if passed else 'outside'} [{lo}, {hi}]")
    return GateResult("forecast_consistency", passed, {"level_ratio": ratio}, {"min": lo, "max": hi}, reason)


def gates(ctx: GateContext) -> list[GateResult]:
    return [
        g.data_volume(ctx, "min_series_days"),
        performance_floor(ctx),
        g.no_regression(ctx, "wape", "wape_tolerance", higher_is_better=False),
        g.bound(ctx, "calibration", "coverage_80", minimum="coverage_80_min", maximum="coverage_80_max"),
        g.data_drift(ctx, "drift_share_max"),
        forecast_consistency(ctx),
    ]


# -- drift -----------------------------------------------------------------------------------------

def _profile(frame: pl.DataFrame, key: pl.Expr) -> dict[Any, float]:
    shares = frame.group_by(key.alias("k")).agg(pl.col("y").sum())
    total = float(shares.get_column("y").sum())
    return {k: (v / total if total > 0 else 0.0) for k, v in shares.iter_rows()}


def _distance(a: dict[Any, float], b: dict[Any, float]) -> float:
    return 0.5 * sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b))


def drift(prepared: Prepared, frames: Mapping[str, pl.DataFrame]) -> DriftResult:
    """The last 28 days now against the 28 days before the training's first backtest origin: demand level
    (|log| of the ratio of mean daily category units), weekly profile and category mix (total-variation
    distances of the day-of-week and category shares)."""
    reference: pl.DataFrame = prepared.train.filter(pl.col("unique_id").str.starts_with("category:"))
    ref_last = reference.get_column("ds").max()
    try:
        lines = data.order_lines(frames)
    except Skip as exc:
        return DriftResult({}, [], None, False, f"no current orders: {exc}")
    if lines.is_empty():
        return DriftResult({}, [], None, False, "no current order lines: not judged")
    last = lines.get_column("ds").max()
    assert isinstance(last, date) and isinstance(ref_last, date)
    now = data.build_series(lines.filter(pl.col("ds") > last - timedelta(days=HORIZON)), [], None, last).frame
    before = reference.filter(pl.col("ds") > ref_last - timedelta(days=HORIZON))
    if now.height == 0 or before.height == 0:
        return DriftResult({}, [], None, False, "too few days to compare: not judged")
    level_now = float(now.get_column("y").sum()) / HORIZON
    level_before = float(before.get_column("y").sum()) / HORIZON
    if level_now <= 0 or level_before <= 0:
        return DriftResult({}, [], None, False, "no units in one of the windows: not judged")
    measures = {
        "demand_level_shift": abs(math.log(level_now / level_before)),
        "weekly_profile_shift": _distance(_profile(before, pl.col("ds").dt.weekday()),
                                          _profile(now, pl.col("ds").dt.weekday())),
        "category_mix_shift": _distance(_profile(before, pl.col("unique_id")), _profile(now, pl.col("unique_id"))),
    }
    drifted = [k for k, v in measures.items() if v > DRIFT_THRESHOLDS[k]]
    reason = ", ".join(f"{k} {v:.3f} (limit {DRIFT_THRESHOLDS[k]})" for k, v in measures.items())
    return DriftResult(measures, drifted, len(drifted) / len(measures), True, reason)


# -- output ----------------------------------------------------------------------------------------

def output(forecaster: DemandForecaster, frames: Mapping[str, pl.DataFrame], version: str) -> pl.DataFrame:
    """The next 28 days of every series on the current data, each by the champion's model for it (a series
    it never saw, e.g. a new best seller, by the model it chose most often), refit on the whole history."""
    lines = data.order_lines(frames)
    top_n = sum(1 for s in forecaster.choices if s.startswith("product:"))
    categories = sorted(int(c) for c in frames["products"].get_column("category_id").drop_nulls().unique().to_list())
    series = data.build_series(lines, data.top_products(lines, top_n), categories)
    default = forecaster.default_model
    choices = {s: forecaster.choices.get(s, default) for s in series.ids}
    choices = {s: (default if m == model.ZERO_MODEL else m) for s, m in choices.items()}
    ahead = model.forecast_ahead(series.frame, choices, zero_series=series.zero_series)
    ahead["model_version"] = str(version)
    return pl.from_pandas(ahead[list(OUTPUT_COLUMNS)]).with_columns(pl.col("date").cast(pl.Date))


def input_example(prepared: Prepared) -> pd.DataFrame:
    ids = prepared.extra["series"].ids
    # horizon in whole days (an integer column: requests send integers, MLflow would refuse them for a double)
    return pd.DataFrame({"series": ids[:2], "horizon": np.array([7, HORIZON][: len(ids[:2])], dtype=np.int64)})


FAMILY = GenericFamily(
    name="demand_forecast",
    group="forecasting",
    description="Daily units per category and top product for the next 28 days with 80%/95% intervals: "
    "statsforecast AutoETS, AutoARIMA, MSTL or seasonal naive chosen per series by rolling-origin "
    "cross-validation, backtested beside the weekly seasonal naive and the planted expected demand.",
    purpose="demand forecasting needs orders, order items and products",
    tables={
        "raw.orders": ("order_id", "ordered_at"),
        "raw.order_items": ("order_id", "product_id", "quantity"),
        "raw.products": ("product_id", "category_id"),
        "ground_truth.expected_demand": ("series", "date", "expected_units"),
    },
    requires={"orders": 500, "order_items": 500, "products": 1},
    prepare=prepare,
    fit=fit,
    evaluate=evaluate,
    gates=gates,
    gate_defaults={"min_series_days": 1_000, "wape_max": 1.0, "relative_wape_max": 1.0, "wape_tolerance": 0.01,
                   "coverage_80_min": 0.70, "coverage_80_max": 0.90, "drift_share_max": 0.5,
                   "level_ratio_min": 0.5, "level_ratio_max": 2.0},
    drift=drift,
    output=output,
    output_key=OUTPUT_KEY,
    input_example=input_example,
    metrics={"wape": False, "mase": False, "coverage_80": True, "coverage_95": True, "bias": False,
             "relative_wape": False},
    primary_metric="wape",
    params={"horizon_days": HORIZON, "backtest_windows": BACKTEST_WINDOWS, "selection_windows": SELECTION_WINDOWS,
            "candidates": ",".join(CANDIDATES), "season_length": data.SEASON_LENGTH,
            "baseline": "seasonal naive (weekly)", "zero_filled_gaps": True},
)
