"""The promotion decision's plain parts: the identical-data reason and the per-family gate config."""

from datetime import UTC, datetime

import pytest

from storeml_assets.features.training import DataBasis
from storeml_assets.ml.gates import GateConfig, evaluate_gates
from storeml_assets.ml.train import EvaluationResult
from storeml_assets.promotion.decision import PromotionConfig, identical_data_reason, promotion_config_class


def _result(f1: float, brier: float) -> EvaluationResult:
    segments = {"tenure_band": {"a": {"f1": f1, "n": 100, "positives": 40}, "b": {"f1": f1, "n": 100, "positives": 40}}}
    return EvaluationResult(n=200, positives=80, threshold=0.4, f1=f1, precision=f1, recall=f1, brier=brier,
                            roc_auc=0.9, pr_auc=float("nan"), segment_f1=segments)


def test_a_family_config_defaults_to_the_family_gates() -> None:
    loose = promotion_config_class(GateConfig(min_training_rows=10, roc_auc_floor=0.0))
    assert loose().gate_config() == GateConfig(min_training_rows=10, roc_auc_floor=0.0)  # type: ignore[attr-defined]
    assert loose(f1_floor=0.5).gate_config().f1_floor == 0.5  # type: ignore[call-arg,attr-defined]
    assert PromotionConfig().gate_config() == GateConfig()  # type: ignore[attr-defined]


def test_a_candidate_on_exactly_the_champions_data_is_not_promoted() -> None:
    seen = DataBasis(datetime(2026, 10, 31, 21, 7, 3, 120000, tzinfo=UTC), 9205, "1", "abc")
    champion = {"model_version": "4", "metadata": {"seed": 42, **seen.to_metadata()}}
    same = {"model_version": "5", "metadata": DataBasis(seen.data_hwm, 9205, "1", None).to_metadata()}
    reason = identical_data_reason(same, champion)
    assert reason == ("trained on exactly the data of champion v4 (9,205 orders up to 2026-10-31 21:07:03) "
                      "with the same code version 1: not a new model")
    good = _result(0.84, 0.1)
    decision = evaluate_gates(good, good, training_rows=900, failed_checks=[], drift_share=0.1,
                              identical_to_champion=reason)
    assert decision.action == "reject" and decision.failed_gates == ["no_regression"]
    assert reason in decision.reasoning
    # the same scores without the reason pass (the tolerance lets an equal F1 through)
    assert evaluate_gates(good, good, training_rows=900, failed_checks=[], drift_share=0.1).action == "promote"

    newer = {"model_version": "5", "metadata": DataBasis(seen.data_hwm, 9206, "1", None).to_metadata()}
    recoded = {"model_version": "5", "metadata": DataBasis(seen.data_hwm, 9205, "2", None).to_metadata()}
    legacy = {"model_version": "3", "metadata": {"seed": 42}}
    assert identical_data_reason(newer, champion) is None
    assert identical_data_reason(recoded, champion) is None
    assert identical_data_reason(same, legacy) is None and identical_data_reason(same, None) is None
    with pytest.raises(ValueError, match="malformed data basis: data_hwm='yesterday'"):
        DataBasis.from_metadata({"data_hwm": "yesterday", "orders_seen": 3})
