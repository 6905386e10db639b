"""mlops bookkeeping of promotion decisions on a migrated storeml database."""

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from storeml_assets import mlops
from storeml_assets.db.migrate import migrate
from storeml_assets.ml.gates import GateConfig, evaluate_gates
from storeml_assets.ml.reports import gates_markdown
from storeml_assets.ml.train import EvaluationResult
from storeml_assets.resources.postgres import PostgresResource

MODEL = "purchase_propensity"
WINDOW = (datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC))


def _result(f1: float, brier: float) -> EvaluationResult:
    segments = {"tenure_band": {"a": {"f1": f1, "n": 100, "positives": 40}, "b": {"f1": f1, "n": 100, "positives": 40}}}
    return EvaluationResult(n=200, positives=80, threshold=0.4, f1=f1, precision=f1, recall=f1, brier=brier,
                            roc_auc=0.9, pr_auc=float("nan"), segment_f1=segments)


@pytest.fixture
def db(isolated_env: dict[str, str]) -> Iterator[PostgresResource]:
    migrate(databases=["storeml"])
    resource = PostgresResource(database="storeml")
    yield resource
    resource.dispose()


def _statuses(db: PostgresResource) -> dict[str, Any]:
    frame = db.read_sql("select mlflow_run_id, status, promoted_at is not null as promoted, "
                        "archived_at is not null as archived from mlops.model_versions")
    return {r.mlflow_run_id: (r.status, r.promoted, r.archived) for r in frame.itertuples()}


def _add(db: PostgresResource, run_id: str, version: str, result: EvaluationResult) -> None:
    with db.connect() as conn:
        mlops.insert_model_version(conn, model_name=MODEL, mlflow_run_id=run_id, model_version=version,
                                   evaluation=result, training_rows=900, training_window=WINDOW,
                                   metadata={"roc": float("nan"), "when": WINDOW[0]})


def test_promote_archives_previous_production_and_reject_archives_candidate(db: PostgresResource) -> None:
    good = _result(0.8, 0.12)
    _add(db, "run-1", "1", good)
    assert _statuses(db) == {"run-1": ("staging", False, False)}

    first = evaluate_gates(good, None, training_rows=900, failed_checks=[], drift_share=0.1)
    with db.connect() as conn:
        mlops.record_decision(conn, model_name=MODEL, decision=first, candidate_run_id="run-1",
                              champion_run_id=None, dagster_run_id="dagster-1")
        mlops.apply_decision(conn, model_name=MODEL, action=first.action, candidate_run_id="run-1")
    assert first.action == "promote"
    assert _statuses(db) == {"run-1": ("production", True, False)}

    _add(db, "run-2", "2", good)
    with db.connect() as conn:
        mlops.apply_decision(conn, model_name=MODEL, action="promote", candidate_run_id="run-2")
        assert mlops.champion_of(conn, MODEL)["mlflow_run_id"] == "run-2"
    assert _statuses(db) == {"run-1": ("archived", True, True), "run-2": ("production", True, False)}

    bad = _result(0.5, 0.25)
    _add(db, "run-3", "3", bad)
    decision = evaluate_gates(bad, good, training_rows=900, failed_checks=[], drift_share=0.1, config=GateConfig())
    with db.connect() as conn:
        mlops.record_decision(conn, model_name=MODEL, decision=decision, candidate_run_id="run-3",
                              champion_run_id="run-2", dagster_run_id="dagster-3")
        mlops.apply_decision(conn, model_name=MODEL, action=decision.action, candidate_run_id="run-3")
    assert decision.action == "reject"
    assert _statuses(db)["run-3"] == ("archived", False, True)
    assert _statuses(db)["run-2"] == ("production", True, False)

    history = db.read_sql("select action, gates_total, failed_gates, model_version from mlops.v_decision_history "
                          "order by decision_id")
    assert history["action"].tolist() == ["promote", "reject"]
    assert history["gates_total"].tolist() == [6, 6]
    assert set(history["failed_gates"].iloc[1]) == {"no_regression", "calibration"}
    stored = db.read_sql("select gate_results -> 'calibration' ->> 'passed' as passed, "
                         "gate_results -> 'calibration' ->> 'reason' as reason "
                         "from mlops.retraining_decisions order by id")
    assert stored["passed"].tolist() == ["true", "false"]
    assert "| calibration | **FAIL** |" in gates_markdown(decision)


def test_apply_decision_needs_a_model_version_row(db: PostgresResource) -> None:
    with pytest.raises(LookupError, match="run-x"), db.connect() as conn:
        mlops.apply_decision(conn, model_name=MODEL, action="promote", candidate_run_id="run-x")
    _add(db, "run-1", "1", _result(0.8, 0.1))
    with pytest.raises(ValueError, match="promote"), db.connect() as conn:
        mlops.apply_decision(conn, model_name=MODEL, action="maybe", candidate_run_id="run-1")


def test_a_failed_write_leaves_no_decision(db: PostgresResource) -> None:
    decision = evaluate_gates(_result(0.8, 0.1), None, training_rows=900, failed_checks=[], drift_share=0.1)
    with pytest.raises(LookupError), db.connect() as conn:
        mlops.record_decision(conn, model_name=MODEL, decision=decision, candidate_run_id="ghost",
                              champion_run_id=None, dagster_run_id=None)
        mlops.apply_decision(conn, model_name=MODEL, action="promote", candidate_run_id="ghost")
    with db.connect() as conn:
        assert conn.execute(sa.text("select count(*) from mlops.retraining_decisions")).scalar_one() == 0


def test_a_second_decision_for_the_same_candidate_is_refused(db: PostgresResource) -> None:
    _add(db, "run-1", "1", _result(0.8, 0.12))
    decision = evaluate_gates(_result(0.8, 0.12), None, training_rows=900, failed_checks=[], drift_share=0.1)
    with db.connect() as conn:
        first = mlops.record_decision(conn, model_name=MODEL, decision=decision, candidate_run_id="run-1",
                                      champion_run_id=None, dagster_run_id="dagster-a")
    with pytest.raises(mlops.DecisionExistsError, match=rf"'run-1' already has decision #{first} \(promote, Dagster run dagster-a\)"), \
            db.connect() as conn:
        mlops.record_decision(conn, model_name=MODEL, decision=decision, candidate_run_id="run-1",
                              champion_run_id=None, dagster_run_id="dagster-b")
    # the unique index refuses it too, whatever the writer
    with pytest.raises(sa.exc.IntegrityError, match="retraining_decisions_one_per_candidate"), db.connect() as conn:
        conn.execute(sa.text("insert into mlops.retraining_decisions (action, model_name, candidate_mlflow_run_id, "
                             "gate_results) values ('reject', :m, 'run-1', '{}')"), {"m": MODEL})
    with db.connect() as conn:
        assert mlops.decision_of(conn, "run-1") == {"id": first, "action": "promote", "dagster_run_id": "dagster-a"}
        assert conn.execute(sa.text("select count(*) from mlops.retraining_decisions")).scalar_one() == 1


def test_the_migration_keeps_earlier_duplicate_decisions_and_marks_them(isolated_env: dict[str, str],
                                                                       tmp_path: Path) -> None:
    from storeml_assets.settings import get_settings

    sql_dir = get_settings().sql_dir
    before = tmp_path / "sql"
    shutil.copytree(sql_dir, before)
    (before / "storeml" / "006_one_decision_per_candidate.sql").unlink()
    migrate(databases=["storeml"], sql_dir=before)
    resource = PostgresResource(database="storeml")
    try:
        with resource.connect() as conn:
            for candidate in ("run-5", "run-5", "run-4", "run-5"):  # the bug: v5 judged three times
                conn.execute(sa.text("insert into mlops.retraining_decisions (action, model_name, "
                                     "candidate_mlflow_run_id, gate_results) values ('promote', :m, :c, '{}')"),
                             {"m": MODEL, "c": candidate})
        migrate(databases=["storeml"], sql_dir=sql_dir)
        rows = resource.read_sql("select id, candidate_mlflow_run_id as c, duplicate_of from mlops.retraining_decisions "
                                 "order by id")
        first_5 = int(rows["id"].iloc[0])
        assert rows["c"].tolist() == ["run-5", "run-5", "run-4", "run-5"]
        assert [None if pd.isna(v) else int(v) for v in rows["duplicate_of"]] == [None, first_5, None, first_5]
        with resource.connect() as conn:
            assert mlops.decision_of(conn, "run-5")["id"] == first_5
    finally:
        resource.dispose()
