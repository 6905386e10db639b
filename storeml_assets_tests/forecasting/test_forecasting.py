"""Demand forecasting on simulated frames in memory: the planted-truth targets at ``small`` (WAPE against the
weekly seasonal naive and the expected-demand oracle, 80% interval coverage), the output table, serving,
gates, drift, and bad input (a series of zeros, a product with one sale, a gap of missing days)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import polars as pl
import pytest

from storeml_assets.forecasting import data, family, model
from storeml_assets.forecasting.model import ZERO_MODEL, DemandForecaster
from storeml_assets.lifecycle.assets import evaluation_from_json, evaluation_to_json
from storeml_assets.lifecycle.generic import (
    CANDIDATE_EVALUATION,
    DriftResult,
    Evaluation,
    GateContext,
    Prepared,
    Skip,
)
from storeml_assets.settings import SettingsError, get_settings
from storeml_assets_tests.features.frames import simulated


def _frames(drift: bool = False) -> dict[str, pl.DataFrame]:
    sim = simulated("small", 7, drift)
    return {"orders": sim.table("orders"), "order_items": sim.table("order_items"), "products": sim.table("products"),
            "expected_demand": sim.ground_truth["expected_demand"]}


@pytest.fixture(scope="module")
def trained() -> tuple[dict[str, pl.DataFrame], Prepared, DemandForecaster, Evaluation]:
    frames = _frames()
    prepared = family.prepare(frames, 0)
    forecaster = family.fit(prepared, 0)
    return frames, prepared, forecaster, family.evaluate(forecaster, prepared)


def test_planted_targets_at_small(trained: tuple) -> None:
    """WAPE <= 0.85 x the seasonal naive's and <= 1.15 x the oracle's; 80% intervals cover 75-85%."""
    _, _, _, evaluation = trained
    wape, naive = evaluation.metrics["wape"], evaluation.baselines["seasonal_naive"]["wape"]
    assert evaluation.oracle is not None, evaluation.oracle_reason
    oracle = evaluation.oracle["wape"]
    assert wape <= 0.85 * naive, (wape, naive)
    assert wape <= 1.15 * oracle, (wape, oracle)
    assert oracle < naive
    assert 0.75 <= evaluation.metrics["coverage_80"] <= 0.85, evaluation.metrics
    assert evaluation.metrics["coverage_95"] > evaluation.metrics["coverage_80"]
    assert evaluation.metrics["mase"] < evaluation.baselines["seasonal_naive"]["mase"]
    assert all(math.isfinite(v) for v in evaluation.metrics.values()), evaluation.metrics
    assert len(evaluation.details["backtest_origins"]) == data.BACKTEST_WINDOWS
    assert evaluation.plots["forecast.png"].startswith(b"\x89PNG")


def test_series_are_every_category_and_the_top_products(trained: tuple) -> None:
    frames, prepared, forecaster, _ = trained
    series: data.Series = prepared.extra["series"]
    leaves = frames["products"].get_column("category_id").unique().to_list()
    assert {f"category:{c}" for c in leaves} <= set(series.ids)
    products = [s for s in series.ids if s.startswith("product:")]
    assert len(products) == get_settings().forecast_top_n == prepared.params["top_n_products"]
    units = (frames["order_items"].group_by("product_id").agg(pl.col("quantity").sum())
             .sort(["quantity", "product_id"], descending=[True, False]))
    assert f"product:{units.get_column('product_id')[0]}" in products
    assert series.frame.height == len(series.ids) * series.days
    assert set(forecaster.choices) == set(series.ids)
    assert set(forecaster.choices.values()) <= {*forecaster.candidates, ZERO_MODEL}


def test_output_table(trained: tuple) -> None:
    frames, prepared, forecaster, _ = trained
    out = family.output(forecaster, frames, "7")
    assert tuple(out.columns) == family.OUTPUT_COLUMNS
    series: data.Series = prepared.extra["series"]
    assert out.group_by("series").len().get_column("len").unique().to_list() == [data.HORIZON]
    assert out.get_column("date").min() == series.last_day + timedelta(days=1)
    assert out.get_column("model_version").unique().to_list() == ["7"]
    ordered = out.filter((pl.col("lower_95") <= pl.col("lower_80")) & (pl.col("lower_80") <= pl.col("forecast"))
                         & (pl.col("forecast") <= pl.col("upper_80")) & (pl.col("upper_80") <= pl.col("upper_95")))
    assert ordered.height == out.height
    assert out.filter(pl.col("lower_95") < 0).is_empty()


def test_pyfunc_serves_the_stored_forecast(trained: tuple) -> None:
    _, prepared, forecaster, _ = trained
    example = family.input_example(prepared)
    served = forecaster.predict(None, example)
    assert len(served) == int(example["horizon"].sum())
    first = example["series"].iloc[0]
    assert served[served["series"] == first]["forecast"].tolist() == \
        forecaster.forecast[forecaster.forecast["series"] == first]["forecast"].head(7).tolist()
    with pytest.raises(ValueError, match="horizon must be between 1 and 28"):
        forecaster.predict(None, pd.DataFrame({"series": [first], "horizon": [29]}))
    with pytest.raises(ValueError, match="no demand forecast for series"):
        forecaster.predict(None, pd.DataFrame({"series": ["product:999999"]}))


def _context(evaluation: Evaluation, champion: Evaluation | None = None) -> GateContext:
    return GateContext(candidate=evaluation, champion=champion, training_rows=10_000, failed_checks=[],
                       drift=DriftResult({}, [], 0.0, True, "none"), identical_to_champion=None,
                       thresholds=family.FAMILY.gate_defaults)


def test_gates_pass_on_planted_data_and_fail_on_bad_intervals_or_regression(trained: tuple) -> None:
    _, _, _, evaluation = trained
    results = family.gates(_context(evaluation))
    assert [r.name for r in results] == ["data_volume", "performance_floor", "no_regression", "calibration",
                                         "data_drift", "forecast_consistency"]
    assert all(r.passed for r in results), [(r.name, r.reason) for r in results if not r.passed]
    narrow = replace(evaluation, metrics={**evaluation.metrics, "coverage_80": 0.55})
    assert not {r.name: r for r in family.gates(_context(narrow))}["calibration"].passed
    worse = replace(evaluation, metrics={**evaluation.metrics, "wape": evaluation.metrics["wape"] + 0.05})
    assert not {r.name: r for r in family.gates(_context(worse, champion=evaluation))}["no_regression"].passed
    naive_like = replace(evaluation, metrics={**evaluation.metrics, "relative_wape": 1.02})
    assert not {r.name: r for r in family.gates(_context(naive_like))}["performance_floor"].passed
    exploding = replace(evaluation, metrics={**evaluation.metrics, "level_ratio": 3.0})
    assert not {r.name: r for r in family.gates(_context(exploding))}["forecast_consistency"].passed


def test_the_champion_takes_the_backtest_from_the_candidates_evaluation_on_the_same_data(
        trained: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    """The decision step hands the family the candidate's stored evaluation: evaluating a champion with the same
    candidates on the same data runs no cross-validation and gives the same backtest; other candidates or other
    data cross-validate."""
    frames, _, forecaster, evaluation = trained
    stored = evaluation_from_json(json.loads(json.dumps(evaluation_to_json(evaluation))))  # as the decision reads it
    runs: list[tuple[str, ...]] = []
    cross_validate = model.cross_validate
    monkeypatch.setattr(model, "cross_validate", lambda series, models, *a, **k: runs.append(tuple(models))
                        or cross_validate(series, models, *a, **k))
    prepared = family.prepare(frames, 0)  # the decision step prepares the data again: no cross-validation cached
    prepared.extra[CANDIDATE_EVALUATION] = stored
    champion = family.evaluate(forecaster, prepared)
    assert runs == []
    assert champion.details["backtest_source"] == "candidate evaluation"
    assert evaluation.details["backtest_source"] == "cross-validation"
    assert champion.metrics == pytest.approx(evaluation.metrics, nan_ok=True)
    assert champion.baselines["seasonal_naive"] == pytest.approx(evaluation.baselines["seasonal_naive"])
    assert champion.oracle == pytest.approx(evaluation.oracle)

    naive_only = DemandForecaster(("SeasonalNaive",), {s: "SeasonalNaive" for s in forecaster.choices},
                                  forecaster.forecast, forecaster.zero_series)
    other = family.evaluate(naive_only, prepared)
    assert runs == [("SeasonalNaive",)] and other.details["backtest_source"] == "cross-validation"
    assert other.metrics["wape"] == pytest.approx(evaluation.baselines["seasonal_naive"]["wape"])

    series: data.Series = prepared.extra["series"]
    changed = replace(prepared, extra={**prepared.extra, "series": replace(
        series, frame=series.frame.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.col("y") + 1)
                                                .otherwise(pl.col("y")).alias("y")))})
    assert family.backtest_key(changed, forecaster.candidates) != evaluation.details["backtest_key"]
    assert family.backtest_key(prepared, forecaster.candidates) == evaluation.details["backtest_key"]


def test_drift_sees_the_planted_level_shift_and_not_the_same_data(trained: tuple) -> None:
    frames, prepared, _, _ = trained
    same = family.drift(prepared, frames)
    assert same.judged and same.drifted == [], same.reason
    shifted = family.drift(prepared, _frames(drift=True))
    assert shifted.judged and "demand_level_shift" in shifted.drifted, shifted.reason


# -- bad input on a small hand-made storefront -----------------------------------------------------

def _storefront(days: int = 150, skip_days: tuple[int, ...] = ()) -> dict[str, pl.DataFrame]:
    """Categories 1 and 2 sell daily (products 1-4), category 3 has a product that never sells, and
    product 5 (category 2) sells exactly once."""
    rng = np.random.default_rng(3)
    start = datetime(2026, 1, 1)
    rows = []
    for day in range(days):
        if day in skip_days:
            continue
        weekly = 1.0 + 0.3 * (day % 7 in (5, 6))
        for product in (1, 2, 3, 4):
            for _ in range(rng.poisson(6 * weekly)):
                rows.append((start + timedelta(days=day, hours=12), product, int(rng.integers(1, 3))))
    rows.append((start + timedelta(days=days // 2, hours=9), 5, 1))
    orders = pl.DataFrame({"order_id": np.arange(1, len(rows) + 1), "ordered_at": [r[0] for r in rows]})
    items = pl.DataFrame({"order_id": np.arange(1, len(rows) + 1), "product_id": [r[1] for r in rows],
                          "quantity": [r[2] for r in rows]})
    products = pl.DataFrame({"product_id": [1, 2, 3, 4, 5, 6], "category_id": [1, 1, 2, 2, 2, 3]})
    return {"orders": orders, "order_items": items, "products": products}


def test_bad_input_zeros_one_sale_and_a_gap() -> None:
    gap = tuple(range(60, 65))
    frames = _storefront(skip_days=gap)
    prepared = family.prepare(frames, 0, top_n=5)
    series: data.Series = prepared.extra["series"]
    assert series.filled_days == [date(2026, 1, 1) + timedelta(days=d) for d in gap]
    assert series.zero_series == ["category:3"]
    assert "product:5" in series.ids
    assert series.frame.filter(pl.col("ds").is_in(series.filled_days)).get_column("y").sum() == 0
    forecaster = family.fit(prepared, 0, candidates=("AutoETS", "SeasonalNaive"))
    assert forecaster.choices["category:3"] == ZERO_MODEL
    zeros = forecaster.forecast[forecaster.forecast["series"] == "category:3"]
    assert len(zeros) == data.HORIZON and (zeros[["forecast", "upper_95"]] == 0).all().all()
    one_sale = forecaster.forecast[forecaster.forecast["series"] == "product:5"]
    assert len(one_sale) == data.HORIZON and np.isfinite(one_sale["forecast"]).all()
    assert (one_sale["forecast"] >= 0).all()
    evaluation = family.evaluate(forecaster, prepared)
    assert evaluation.oracle is None and "absent" in evaluation.oracle_reason
    assert "5 days without any order were filled with zeros" in evaluation.markdown
    assert math.isfinite(evaluation.metrics["wape"]) and math.isfinite(evaluation.metrics["mase"])


def test_the_number_of_products_comes_from_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    frames = _storefront()
    monkeypatch.setenv("STOREML_FORECAST_TOP_N", "3")
    prepared = family.prepare(frames, 0)
    assert len([s for s in prepared.extra["series"].ids if s.startswith("product:")]) == 3
    assert prepared.params == {"top_n_products": 3}
    monkeypatch.setenv("STOREML_FORECAST_TOP_N", "0")
    assert not [s for s in family.prepare(frames, 0).extra["series"].ids if s.startswith("product:")]
    monkeypatch.setenv("STOREML_FORECAST_TOP_N", "many")
    with pytest.raises(SettingsError, match=r"STOREML_FORECAST_TOP_N must be an integer, got 'many'"):
        family.prepare(frames, 0)


def test_too_short_a_history_skips_with_a_reason() -> None:
    with pytest.raises(Skip, match=r"orders cover 60 days < 140 \(demand forecasting backtests 4 windows"):
        family.prepare(_storefront(days=60), 0)
    empty = _storefront()
    empty["order_items"] = empty["order_items"].head(0)
    with pytest.raises(Skip, match="orders have no lines"):
        family.prepare(empty, 0)


def test_a_champion_from_another_catalogue_is_judged_without_its_missing_series() -> None:
    """The champion was fitted before the catalogue changed: the storefront's top product now is one it
    never forecast. Its evaluation (the decision step's) still runs; the plot shows that product's history
    and says there is no forecast for it."""
    before = _storefront()
    prepared_before = family.prepare(before, 0, top_n=5)
    champion = family.fit(prepared_before, 0, candidates=("AutoETS", "SeasonalNaive"))
    after = _storefront()
    renamed = {1: 11, 2: 12, 3: 13, 4: 14, 5: 15}  # the same sales under new product ids
    after["order_items"] = after["order_items"].with_columns(pl.col("product_id").replace_strict(renamed))
    after["products"] = after["products"].with_columns(pl.col("product_id").replace(renamed))
    prepared_after = family.prepare(after, 0, top_n=5)
    new_series = set(prepared_after.extra["series"].ids) - set(champion.choices)
    assert "product:11" in new_series, new_series
    evaluation = family.evaluate(champion, prepared_after)
    assert evaluation.plots["forecast.png"].startswith(b"\x89PNG")
    assert math.isfinite(evaluation.metrics["wape"])
