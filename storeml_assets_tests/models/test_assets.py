"""End to end on real Postgres and MLflow: simulated raw tables -> features -> candidate -> promotion.

One scenario (MLflow's store migrations and model logging dominate the time):

1. a clean candidate is promoted (bootstrap: no champion) and becomes the champion;
2. a candidate trained with 40% of its labels flipped is rejected, the failing gates named;
3. after the blocking ``min_rows`` check on ``raw.orders`` fails, the model asset refuses to train:
   no candidate, no model version, no decision.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import mlflow
import psycopg2
import pytest

from storeml_assets.db.migrate import migrate
from storeml_assets.io import PostgresIOManager
from storeml_assets.io.postgres_io_manager import store_frame
from storeml_assets.ml.mlflow_resource import MlflowTracking
from storeml_assets.models.assets import (
    CUSTOMER_FEATURES_KEY,
    MODEL_ASSETS,
    MODEL_NAME,
    PROMOTION_DECISION_KEY,
    PURCHASE_PROPENSITY_KEY,
    TRAINING_SET_KEY,
    blocking_check_keys,
    failed_blocking_checks,
)
from storeml_assets.models.features import RAW_COLUMNS
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets.sources.assets import build_source_assets
from storeml_assets.sources.checks import MIN_ROWS_CHECK, build_source_checks
from storeml_assets.sources.resources import StorefrontSources
from storeml_assets.synthetic.loader import load
from storeml_assets_tests.models.frames import raw_frames, simulated

pytestmark = pytest.mark.slow

GATE_ORDER = ["data_volume", "performance_floor", "no_regression", "calibration", "data_drift",
              "segment_consistency"]


def _rows(url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()
    finally:
        conn.close()


@pytest.fixture
def storefront(isolated_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """Migrated databases, a tiny simulated storefront in the sources and ground truth, raw tables written."""
    migrate()
    data = simulated("tiny", 7, False)
    load(data)
    url = isolated_env["storeml"]
    frames = raw_frames(data)
    for table in RAW_COLUMNS:
        store_frame(url, "raw", table, frames[table])
    # every other source table too, so that the real source checks can run on all of raw
    from storeml_assets.sources.catalog import CATALOG

    for table in CATALOG:
        if table not in RAW_COLUMNS:
            store_frame(url, "raw", table, data.table(table))
    yield isolated_env


@pytest.fixture
def tracking(storefront: dict[str, str], tmp_path: Path) -> Iterator[MlflowTracking]:
    resource = MlflowTracking(tracking_uri=storefront["mlflow"], artifact_location=str(tmp_path / "mlartifacts"),
                              experiment_name="storeml-models-test")
    try:
        yield resource
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(None)


def _resources(tracking: MlflowTracking) -> dict[str, Any]:
    return {
        "io_manager": PostgresIOManager(database="storeml"),
        "storeml_db": PostgresResource(database="storeml"),
        "mlflow": tracking,
        "sources": StorefrontSources(),
    }


def _run_source_checks(instance: dg.DagsterInstance, tracking: MlflowTracking) -> dg.ExecuteInProcessResult:
    """Evaluate the blocking source checks (and only them) on the raw tables as they stand."""
    return dg.materialize(
        [*build_source_assets(), *build_source_checks()],
        selection=dg.AssetSelection.checks(*blocking_check_keys()),
        instance=instance,
        resources=_resources(tracking),
        raise_on_error=False,
    )


#: At tiny scale (500 customers) the per-column drift scores are sampling noise around the 0.1
#: threshold (measured drift share 0.18-0.36 over seeds with drift off; 0.03 at small), so the
#: tests judge drift at a looser share; every other gate keeps its default.
TINY_PROMOTION = {"promotion__promotion_decision": {"config": {"drift_share_max": 0.6}}}


def _materialization(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict[str, Any]:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    assert events, f"{key.to_user_string()} was not materialized"
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


def test_promote_then_reject_noisy_candidate_then_blocking_check_stops_training(
    storefront: dict[str, str], tracking: MlflowTracking, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = storefront["storeml"]
    instance = dg.DagsterInstance.ephemeral()
    checks = _run_source_checks(instance, tracking)
    assert checks.success
    assert failed_blocking_checks(instance) == []

    # 1. the first candidate is promoted (bootstrap)
    first = dg.materialize(MODEL_ASSETS, instance=instance, resources=_resources(tracking),
                           run_config=dg.RunConfig(TINY_PROMOTION))
    assert first.success
    model_meta = _materialization(first, PURCHASE_PROPENSITY_KEY)
    assert model_meta["roc_auc"] > 0.8 and model_meta["f1"] > 0.6
    assert 0.8 < model_meta["oracle_ratio"] <= 1.05
    assert model_meta["oracle_roc_auc"] > model_meta["model_roc_auc_vs_will_purchase"] - 0.05
    decision_meta = _materialization(first, PROMOTION_DECISION_KEY)
    assert decision_meta["action"] == "promote", decision_meta["reasoning"]
    assert decision_meta["gate/no_regression"]["reason"] == "no champion"
    assert decision_meta["gate/calibration"]["reason"].startswith("no champion")
    for gate in GATE_ORDER:
        assert f"| {gate} |" in decision_meta["gates"]
    assert _materialization(first, CUSTOMER_FEATURES_KEY)["customers"] > 400
    assert "holdout" in _materialization(first, TRAINING_SET_KEY)["splits"]

    run_1 = model_meta["mlflow_run_id"]
    assert tracking.champion_version(MODEL_NAME) == model_meta["model_version"]
    assert tracking.run_status(run_1) == "FINISHED"
    assert _rows(url, "select status, promoted_at is not null, training_rows > 500 from mlops.model_versions "
                      "where mlflow_run_id = %s", (run_1,)) == [("production", True, True)]
    decisions = _rows(url, "select action, candidate_mlflow_run_id, champion_mlflow_run_id, gate_results, "
                           "dagster_run_id from mlops.retraining_decisions order by id")
    assert len(decisions) == 1
    action, candidate, champion, gate_results, dagster_run_id = decisions[0]
    assert (action, candidate, champion, dagster_run_id) == ("promote", run_1, None, first.run_id)
    assert set(gate_results) == set(GATE_ORDER)
    assert all(set(g) == {"passed", "value", "threshold", "reason"} and g["passed"] for g in gate_results.values())

    # 2. a candidate trained on 40% flipped labels is rejected; the champion stays
    noisy = dg.materialize(
        MODEL_ASSETS,
        selection=[PURCHASE_PROPENSITY_KEY, PROMOTION_DECISION_KEY],
        instance=instance,
        resources=_resources(tracking),
        run_config=dg.RunConfig({**TINY_PROMOTION,
                                 "models__purchase_propensity": {"config": {"label_noise": 0.4}}}),
    )
    assert noisy.success
    noisy_meta = _materialization(noisy, PURCHASE_PROPENSITY_KEY)
    assert noisy_meta["label_noise"] == pytest.approx(0.4)
    rejected = _materialization(noisy, PROMOTION_DECISION_KEY)
    assert rejected["action"] == "reject"
    assert "calibration" in rejected["failed_gates"] and "no_regression" in rejected["failed_gates"]
    run_2 = noisy_meta["mlflow_run_id"]
    assert tracking.champion_version(MODEL_NAME) == model_meta["model_version"]
    assert tracking.challenger_version(MODEL_NAME) == noisy_meta["model_version"]
    rows = dict(_rows(url, "select mlflow_run_id, status from mlops.model_versions"))
    assert rows == {run_1: "production", run_2: "archived"}
    last = _rows(url, "select action, candidate_mlflow_run_id, champion_mlflow_run_id, reasoning, gate_results "
                      "from mlops.retraining_decisions order by id desc limit 1")[0]
    assert last[:3] == ("reject", run_2, run_1)
    assert "calibration" in last[3] and "no_regression" in last[3]
    assert last[4]["no_regression"]["passed"] is False and last[4]["calibration"]["passed"] is False
    history = _rows(url, "select failed_gates from mlops.v_decision_history order by decision_id desc limit 1")
    assert {"calibration", "no_regression"} <= set(history[0][0])

    # 3. a failed blocking source check stops training: nothing new anywhere
    monkeypatch.setenv("STOREML_MIN_ROWS", "orders=100000000")
    failing = _run_source_checks(instance, tracking)
    assert not failing.success or any(
        not e.passed for e in failing.get_asset_check_evaluations()
    )
    assert failed_blocking_checks(instance) == [f"raw/orders:{MIN_ROWS_CHECK}"]
    monkeypatch.delenv("STOREML_MIN_ROWS")
    blocked = dg.materialize(
        MODEL_ASSETS,
        selection=[PURCHASE_PROPENSITY_KEY, PROMOTION_DECISION_KEY],
        instance=instance,
        resources=_resources(tracking),
        raise_on_error=False,
    )
    assert not blocked.success
    failure = next(e for e in blocked.all_events if e.is_step_failure)
    assert "blocking source checks failed: raw/orders:min_rows" in failure.step_failure_data.error.message
    assert _rows(url, "select count(*) from mlops.model_versions") == [(2,)]
    assert _rows(url, "select count(*) from mlops.retraining_decisions") == [(2,)]
    assert tracking.challenger_version(MODEL_NAME) == noisy_meta["model_version"]

