"""The customer-segmentation family as plain functions on a simulated ``small`` storefront: the planted-persona
target beside the RFM-quintile grid, stability, the profile, customers without orders, bad input, gates,
drift and the output table."""

from __future__ import annotations

import pickle
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pandas as pd
import polars as pl
import pytest

from storeml_assets.features.customer import build_customer_features
from storeml_assets.features.training import history_end
from storeml_assets.lifecycle.generic import DriftResult, GateContext, Prepared, Skip
from storeml_assets.segmentation import family as fam
from storeml_assets.segmentation.model import INPUT_COLUMNS, SegmentationModel
from storeml_assets_tests.features.frames import raw_frames, simulated

GATE_NAMES = ["data_volume", "performance_floor", "no_regression", "calibration", "data_drift", "segment_stability"]


@pytest.fixture(scope="module")
def frames() -> dict[str, pl.DataFrame]:
    data = simulated("small", 42, False)
    raw = raw_frames(data)
    end = history_end(raw["orders"])
    features = build_customer_features(raw, end)
    month_before = build_customer_features(raw, end - timedelta(days=30))
    return {"customer_features": features, "training_set": month_before, "users": data.table("users"),
            "orders": data.table("orders"), "customer_personas": data.ground_truth["customer_personas"]}


@pytest.fixture(scope="module")
def trained(frames: dict[str, pl.DataFrame]) -> tuple[Prepared, SegmentationModel]:
    prepared = fam.prepare(frames, 0)
    return prepared, fam.fit(prepared, 0)


@pytest.fixture(scope="module")
def evaluation(trained: tuple[Prepared, SegmentationModel]):
    prepared, model = trained
    return fam.evaluate(model, prepared)


def test_segments_recover_the_planted_personas_better_than_the_rfm_grid(evaluation) -> None:
    metrics, baseline = evaluation.metrics, evaluation.baselines["rfm_quintile"]
    assert metrics["persona_ari"] >= 0.6, metrics
    assert metrics["persona_ari"] > baseline["persona_ari"] + 0.1, (metrics, baseline)
    assert metrics["silhouette"] > baseline["silhouette"]
    assert metrics["stability"] >= 0.9
    assert evaluation.oracle is not None and evaluation.oracle["persona_ari"] == 1.0
    assert set(evaluation.oracle) >= {"silhouette", "smallest_segment_share", "n_segments"}


def test_segments_are_named_in_business_terms_and_profiled(trained, evaluation) -> None:
    prepared, model = trained
    assert 3 <= len(model.names) <= 6 and len(set(model.names)) == len(model.names)
    assert "champions" in model.names
    known = {"new", "hibernating", "champions", "loyal", "occasional", "at risk", "lapsing"}
    assert {name.split(" ")[0] if name[-1].isdigit() else name for name in model.segments} <= known
    profile = {row["segment"]: row for row in evaluation.details["profile"]}
    assert sum(row["customers"] for row in profile.values()) == prepared.holdout.height
    assert profile["champions"]["mean_frequency"] > max(r["mean_frequency"] for s, r in profile.items()
                                                        if s != "champions")
    assert profile["hibernating"]["mean_frequency"] < 1.0
    assert "| segment | customers | share |" in evaluation.markdown
    assert evaluation.plots["segments.png"].startswith(b"\x89PNG")


def test_customers_without_orders_get_a_rule_segment_and_bad_input_is_named(trained) -> None:
    _, model = trained
    rows = pd.DataFrame({"customer_id": [1, 2, 3, 4, 5],
                         "recency_days": [None, None, 2.0, np.nan, 70.0], "frequency": [0, 0, 12, None, 1],
                         "monetary": [0.0, None, 1900.0, None, 150.0], "tenure_days": [300.0, 10.0, 365.0, 200.0, 365.0],
                         "activity_p_alive": [0.1, None, 0.99, 0.5, 0.4]})
    answer = model.predict(None, rows)
    assert list(answer["customer_id"]) == [1, 2, 3, 4, 5]
    assert list(answer["segment"])[:2] == ["hibernating", "new"]
    assert answer["segment"][3] == "hibernating" and answer["segment"][4] == "hibernating"
    assert answer["segment"][2] == "champions" and 0 < answer["probability"][2] <= 1
    assert list(answer["probability"])[:2] == [1.0, 1.0]
    with pytest.raises(ValueError, match="activity_p_alive"):
        model.predict(None, rows.drop(columns=["activity_p_alive"]))
    restored = pickle.loads(pickle.dumps(model))
    assert restored.predict(None, rows).equals(answer)


def test_too_few_customers_or_buyers_skip_with_a_reason(frames) -> None:
    few = {**frames, "customer_features": frames["customer_features"].head(50)}
    with pytest.raises(Skip, match="customer_features has 50 rows < 100"):
        fam.prepare(few, 0)
    idle = frames["customer_features"].with_columns(pl.lit(0, pl.Int64).alias("frequency"))
    with pytest.raises(Skip, match="customers with orders in the lookback"):
        fam.prepare({**frames, "customer_features": idle}, 0)
    missing = {k: v for k, v in frames.items() if k != "customer_features"}
    with pytest.raises(Skip, match="customer_features is missing"):
        fam.prepare(missing, 0)


def test_without_personas_there_is_no_oracle_but_the_family_runs(frames, trained) -> None:
    _, model = trained
    external = {k: v for k, v in frames.items() if k != "customer_personas"}
    prepared = fam.prepare(external, 1)
    evaluation = fam.evaluate(model, prepared)
    assert evaluation.oracle is None and "customer_personas" in evaluation.oracle_reason
    assert "persona_ari" not in evaluation.metrics and np.isfinite(evaluation.metrics["silhouette"])


def _context(evaluation, champion, drift: DriftResult | None = None) -> GateContext:
    return GateContext(candidate=evaluation, champion=champion, training_rows=3_000, failed_checks=[],
                       drift=drift or DriftResult({}, [], 0.0, True, "same data"), identical_to_champion=None,
                       thresholds=fam.GATE_DEFAULTS)


def test_gates_pass_a_good_candidate_and_segment_stability_judges_the_champions_assignment(evaluation) -> None:
    results = fam.gates(_context(evaluation, None))
    assert [r.name for r in results] == GATE_NAMES
    assert all(r.passed for r in results), [r.reason for r in results if not r.passed]
    same = fam.gates(_context(evaluation, evaluation))[-1]
    assert same.passed and same.value["champion_ari"] == 1.0
    assignment = evaluation.details["assignment"]
    shuffled = dict(assignment, segment=list(np.random.default_rng(0).permutation(assignment["segment"])))
    champion = replace(evaluation, details={**evaluation.details, "assignment": shuffled})
    judged = fam.gates(_context(evaluation, champion))[-1]
    assert not judged.passed and judged.value["champion_ari"] < 0.1
    tiny = replace(evaluation, metrics={**evaluation.metrics, "smallest_segment_share": 0.005})
    assert not fam.gates(_context(tiny, None))[3].passed


def test_drift_flags_shifted_customers_and_not_a_month_of_the_same_behaviour(frames, trained) -> None:
    prepared, _ = trained
    same = fam.drift(prepared, frames)
    assert same.judged and same.share == 0.0 and max(same.measures.values()) < 0.08, same.measures
    shifted = frames["customer_features"].with_columns(
        (pl.col("recency_days") + 20).alias("recency_days"), (pl.col("activity_p_alive") * 0.6).alias("activity_p_alive"),
        (pl.col("tenure_days") / 4).alias("tenure_days"))
    drifted = fam.drift(prepared, {**frames, "customer_features": shifted})
    assert {"recency_days_ks", "activity_p_alive_ks", "lifecycle_mix_distance"} <= set(drifted.drifted)
    assert drifted.share is not None and drifted.share > fam.GATE_DEFAULTS["drift_share_max"]
    none = fam.drift(prepared, {k: v for k, v in frames.items() if k != "customer_features"})
    assert not none.judged
    no_earlier = fam.drift(prepared, {k: v for k, v in frames.items() if k != "training_set"})
    assert not no_earlier.judged and "training_set" in no_earlier.reason


def test_output_scores_every_customer_of_the_latest_cutoff(frames, trained) -> None:
    _, model = trained
    out = fam.output(model, frames, "7")
    features = frames["customer_features"]
    assert out.columns == ["customer_id", "segment", "probability", "model_version"]
    assert out.height == features.height and out["customer_id"].n_unique() == features.height
    assert out["probability"].is_between(0.0, 1.0, closed="right").all() and set(out["model_version"]) == {"7"}
    assert set(out["segment"]) == set(model.segments)
    example = fam.input_example(fam.prepare(frames, 0))
    assert list(example.columns) == ["customer_id", *INPUT_COLUMNS] and len(example) == 4
    assert example[list(INPUT_COLUMNS)].iloc[3].isna().all()
    assert list(model.predict(None, example)["segment"])[3] == "new"
