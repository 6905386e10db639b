"""The six promotion gates, each on both sides of its threshold, and whole decisions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from storeml_assets.features.customer import DRIFT_COLUMNS
from storeml_assets.ml import gates
from storeml_assets.ml.drift import ColumnDrift, DriftSummary
from storeml_assets.ml.gates import GATE_NAMES, NO_CHAMPION, GateConfig, evaluate_gates
from storeml_assets.ml.train import EvaluationResult, evaluate, flip_labels, train_model
from storeml_assets_tests.ml.synthetic import FEATURES, LABEL, PROPENSITY, SEGMENTS, customer_frame


def result(f1=0.6, roc_auc=0.8, brier=0.15, segment_f1=None) -> EvaluationResult:
    return EvaluationResult(
        n=1000, positives=300, threshold=0.4, f1=f1, precision=0.6, recall=0.6, brier=brier,
        roc_auc=roc_auc, pr_auc=0.6,
        segment_f1=segment_f1 if segment_f1 is not None else {
            "channel": {"web": {"f1": 0.6, "n": 500, "positives": 150},
                        "app": {"f1": 0.55, "n": 500, "positives": 150}}},
    )


def test_data_volume() -> None:
    assert gates.data_volume(500, 500, []).passed
    low = gates.data_volume(499, 500, [])
    assert not low.passed and "499 training rows < minimum 500" in low.reason
    failed = gates.data_volume(10_000, 500, ["raw_orders_min_rows"])
    assert not failed.passed and "raw_orders_min_rows" in failed.reason
    assert failed.value == {"rows": 10_000, "failed_checks": ["raw_orders_min_rows"]}


def test_performance_floor() -> None:
    assert gates.performance_floor(0.3, 0.7, 0.3, 0.7).passed
    f1_low = gates.performance_floor(0.299, 0.9, 0.3, 0.7)
    assert not f1_low.passed and "F1" in f1_low.reason and "ROC-AUC" not in f1_low.reason
    auc_low = gates.performance_floor(0.9, 0.699, 0.3, 0.7)
    assert not auc_low.passed and "ROC-AUC" in auc_low.reason
    assert not gates.performance_floor(float("nan"), 0.9, 0.3, 0.7).passed


def test_no_regression() -> None:
    assert gates.no_regression(0.58, 0.60, 0.02).passed
    regressed = gates.no_regression(0.579, 0.60, 0.02)
    assert not regressed.passed and regressed.threshold == pytest.approx(0.58)
    bootstrap = gates.no_regression(0.1, None, 0.02)
    assert bootstrap.passed and bootstrap.reason == NO_CHAMPION


def test_calibration() -> None:
    assert gates.calibration(0.16, 0.15, 0.01, 0.2).passed
    worse = gates.calibration(0.161, 0.15, 0.01, 0.2)
    assert not worse.passed and "champion" in worse.reason
    too_high = gates.calibration(0.201, 0.25, 0.01, 0.2)  # better than champion, above the maximum
    assert not too_high.passed and "maximum" in too_high.reason
    bootstrap = gates.calibration(0.19, None, 0.01, 0.2)
    assert bootstrap.passed and bootstrap.reason.startswith(NO_CHAMPION)
    bootstrap_bad = gates.calibration(0.21, None, 0.01, 0.2)  # absolute maximum still applies
    assert not bootstrap_bad.passed and "maximum" in bootstrap_bad.reason


def test_data_drift() -> None:
    assert gates.data_drift(0.3, 0.3).passed
    drifted = gates.data_drift(0.4, 0.3)
    assert not drifted.passed and drifted.value == 0.4 and drifted.threshold == 0.3


def _drift(share: float | None, drifted: list[str], ref_rows: int = 800, cur_rows: int = 400) -> DriftSummary:
    columns = {c: ColumnDrift(c, "numeric", "wasserstein", 0.5 if c in drifted else 0.01, 0.1, c in drifted)
               for c in DRIFT_COLUMNS} if share is not None else {}
    return DriftSummary(share, len(drifted), len(DRIFT_COLUMNS), share is not None and share >= 0.3, 0.3, drifted,
                        columns, ref_rows, cur_rows, None, min_rows=200, compared_columns=list(DRIFT_COLUMNS))


def test_data_drift_reads_a_drift_summary() -> None:
    calm = gates.data_drift(_drift(1 / 6, ["avg_order_value"]), 0.3)
    assert calm.passed and calm.value == pytest.approx(1 / 6)
    assert calm.reason == "drift share 0.1667 (1 of 6 columns) <= 0.3"
    drifted = gates.data_drift(_drift(4 / 6, DRIFT_COLUMNS[:4]), 0.3)
    assert not drifted.passed and drifted.reason == "drift share 0.6667 (4 of 6 columns) > 0.3"


def test_too_little_data_passes_the_drift_gate_with_its_reason() -> None:
    thin = gates.data_drift(_drift(None, [], ref_rows=150, cur_rows=90), 0.3)
    assert thin.passed and thin.value is None and thin.threshold == 0.3
    assert thin.reason == "not enough data to judge drift (150 reference / 90 current rows < 200)"
    decision = evaluate_gates(result(), None, training_rows=5000, failed_checks=[],
                              drift_share=_drift(None, [], ref_rows=150, cur_rows=90))
    assert decision.action == "promote"
    assert decision.gates[GATE_NAMES.index("data_drift")].reason.startswith("not enough data to judge drift")
    assert gates.data_drift(None, 0.3).passed is False  # a missing share without a verdict is no pass


def test_segment_consistency() -> None:
    def seg(**f1s):
        return {"channel": {k: {"f1": v, "n": 100, "positives": 30} for k, v in f1s.items()}}

    kw = dict(f1_floor=0.2, gap_max=0.3, min_rows=50, min_positives=10)
    assert gates.segment_consistency(seg(web=0.6, app=0.3), **kw).passed  # gap exactly 0.3
    gap = gates.segment_consistency(seg(web=0.61, app=0.3), **kw)
    assert not gap.passed and "gap" in gap.reason and "web - app" in gap.reason
    floor = gates.segment_consistency(seg(web=0.35, app=0.19), **kw)
    assert not floor.passed and "below 0.2 in app" in floor.reason
    # A tiny segment is ignored, however bad its F1.
    tiny = seg(web=0.6, app=0.5)
    tiny["channel"]["fax"] = {"f1": 0.0, "n": 49, "positives": 20}
    kept = gates.segment_consistency(tiny, **kw)
    assert kept.passed and kept.value["channel"]["ignored"] == ["fax"]
    tiny["channel"]["fax"]["n"] = 50
    assert not gates.segment_consistency(tiny, **kw).passed


def test_all_pass_promotes_and_bootstrap_reasons() -> None:
    decision = evaluate_gates(result(), None, training_rows=5000, failed_checks=[], drift_share=0.1)
    assert decision.action == "promote" and decision.failed_gates == []
    assert [g.name for g in decision.gates] == list(GATE_NAMES)
    by_name = {g.name: g for g in decision.gates}
    assert by_name["no_regression"].reason == NO_CHAMPION
    assert by_name["calibration"].reason.startswith(NO_CHAMPION)
    payload = json.loads(json.dumps(decision.to_dict()))
    assert payload["action"] == "promote" and len(payload["gates"]) == 6
    assert set(payload["gates"][0]) == {"name", "passed", "value", "threshold", "reason"}


def test_failing_gates_are_named() -> None:
    decision = evaluate_gates(
        result(f1=0.5, brier=0.19), result(f1=0.6, brier=0.15),
        training_rows=100, failed_checks=[], drift_share=0.6, config=GateConfig(),
    )
    assert decision.action == "reject"
    assert decision.failed_gates == ["data_volume", "no_regression", "calibration", "data_drift"]
    for name in decision.failed_gates:
        assert name in decision.reasoning
    assert "performance_floor" not in decision.reasoning
    json.dumps(decision.to_dict())


def test_nan_metrics_serialize_as_null() -> None:
    decision = evaluate_gates(result(roc_auc=float("nan")), None, training_rows=5000, failed_checks=[],
                              drift_share=0.0)
    assert decision.action == "reject" and decision.failed_gates == ["performance_floor"]
    text = json.dumps(decision.to_dict(), allow_nan=False)
    assert '"roc_auc": null' in text


@pytest.fixture(scope="module")
def scored_models():
    train = customer_frame(4000, seed=11)
    holdout = customer_frame(3000, seed=12)
    kwargs = dict(label=LABEL, features=FEATURES, segment_columns=SEGMENTS, propensity_column=PROPENSITY)
    champion = train_model(train, label=LABEL, features=FEATURES, seed=1)
    noisy = train_model(flip_labels(train, LABEL, 0.4, seed=2), label=LABEL, features=FEATURES, seed=1)
    return evaluate(champion, holdout, **kwargs), evaluate(noisy, holdout, **kwargs)


def test_clean_candidate_is_promoted_against_itself(scored_models) -> None:
    champion, _ = scored_models
    decision = evaluate_gates(champion, champion, training_rows=4000, failed_checks=[], drift_share=0.0)
    assert decision.action == "promote", decision.reasoning


@pytest.mark.parametrize("with_champion", [True, False])
def test_flipped_label_candidate_is_rejected(scored_models, with_champion: bool) -> None:
    champion, noisy = scored_models
    assert noisy.brier > champion.brier and np.isfinite(noisy.roc_auc)
    decision = evaluate_gates(noisy, champion if with_champion else None, training_rows=4000,
                              failed_checks=[], drift_share=0.0)
    assert decision.action == "reject"
    assert "calibration" in decision.failed_gates and "performance_floor" in decision.failed_gates
    if with_champion:
        assert "no_regression" in decision.failed_gates
    assert {"data_volume", "data_drift"}.isdisjoint(decision.failed_gates)
    for name in decision.failed_gates:
        assert name in decision.reasoning
