"""The mlops views as rows, the demo summary's reads and the newest drift per model, on a migrated database."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from storeml_assets import mlops
from storeml_assets.db.migrate import migrate
from storeml_assets.jsonsafe import to_json
from storeml_assets.ml.gates import evaluate_gates
from storeml_assets.ml.train import EvaluationResult
from storeml_assets.resources.postgres import PostgresResource

WINDOW = (datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC))


@dataclass
class _Metric:
    metric_name: str
    metric_value: float | None
    model_name: str | None
    metric_type: str = "drift"
    metadata: dict[str, Any] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        return {"metric_type": self.metric_type, "metric_name": self.metric_name, "metric_value": self.metric_value,
                "model_name": self.model_name, "model_version": "1", "metadata": to_json(self.metadata)}


@pytest.fixture
def db(isolated_env: dict[str, str]) -> Iterator[PostgresResource]:
    migrate(databases=["storeml"])
    resource = PostgresResource(database="storeml")
    yield resource
    resource.dispose()


def _result() -> EvaluationResult:
    segments = {"band": {"a": {"f1": 0.8, "n": 100, "positives": 40}, "b": {"f1": 0.8, "n": 100, "positives": 40}}}
    return EvaluationResult(n=200, positives=80, threshold=0.4, f1=0.8, precision=0.8, recall=0.8, brier=0.1,
                            roc_auc=0.9, pr_auc=0.8, segment_f1=segments)


def test_views_and_summary_reads(db: PostgresResource) -> None:
    before = datetime.now(UTC) - timedelta(minutes=1)
    decision = evaluate_gates(_result(), None, training_rows=900, failed_checks=[], drift_share=0.0)
    with db.connect() as conn:
        mlops.insert_model_version(conn, model_name="m1", mlflow_run_id="run-1", model_version="1",
                                   evaluation=_result(), training_rows=900, training_window=WINDOW,
                                   metadata={"oracle": {"model_roc_auc": 0.7, "oracle_roc_auc": 0.8, "ratio": 0.875}})
        mlops.record_decision(conn, model_name="m1", decision=decision, candidate_run_id="run-1",
                              champion_run_id=None, dagster_run_id="d-1")
        mlops.apply_decision(conn, model_name="m1", action=decision.action, candidate_run_id="run-1")
        mlops.insert_metrics(conn, [_Metric("drift_share", 0.5, "m1", metadata={"verdict": "x"}),
                                    _Metric("drift_share", 0.1, "m2")])
    with db.connect() as conn:
        columns, rows = mlops.read_view(conn, mlops.VIEWS["timeline"], 10)
        assert "model_version" in columns and len(rows) == 1
        assert mlops.model_versions_since(conn, before)[0]["oracle_ratio"] == pytest.approx(0.875)
        assert mlops.model_versions_since(conn, datetime.now(UTC) + timedelta(minutes=1)) == []
        assert [d["action"] for d in mlops.decisions_since(conn, before)] == ["promote"]
        assert mlops.drift_since(conn, before)["metric_value"] == pytest.approx(0.1)
        assert mlops.latest_drift(conn, "m1")["metric_value"] == pytest.approx(0.5)
        assert mlops.latest_drift(conn, "m3") is None
        assert mlops.champion_of(conn, "m1")["mlflow_run_id"] == "run-1"
        with pytest.raises(ValueError, match="unknown mlops view 'users'"):
            mlops.read_view(conn, "users", 10)
