"""``mlops.model_versions`` and ``mlops.retraining_decisions``: candidates, champions, decisions.

Status lifecycle in ``mlops.model_versions`` (one row per trained candidate, keyed by MLflow run id):

- a new candidate is inserted as ``staging``;
- promote: the previous ``production`` row of the model becomes ``archived`` (``archived_at``)
  first, then the candidate becomes ``production`` (``promoted_at``) — in that order, because a
  unique partial index allows one production row per model;
- reject: the candidate becomes ``archived`` (``archived_at``): it was judged and will not be
  promoted, so at most one ``staging`` row (the candidate awaiting its decision) exists at a time.

A decision and the status changes it implies are written on one connection, so they commit
together or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storeml_assets.jsonsafe import to_json, to_jsonable
from storeml_assets.ml.gates import Decision, gate_results_json
from storeml_assets.ml.train import EvaluationResult

STAGING = "staging"
PRODUCTION = "production"
ARCHIVED = "archived"


def insert_model_version(
    conn: Connection,
    *,
    model_name: str,
    mlflow_run_id: str,
    model_version: str,
    evaluation: EvaluationResult,
    training_rows: int,
    training_window: tuple[datetime, datetime],
    metadata: Mapping[str, Any],
) -> int:
    """Insert a candidate as ``staging``; returns the row id."""
    row = conn.execute(
        sa.text(
            "insert into mlops.model_versions (model_name, mlflow_run_id, model_version, status, f1_score, "
            "brier_score, roc_auc, pr_auc, training_rows, training_window_start, training_window_end, metadata) "
            "values (:model_name, :run_id, :version, :status, :f1, :brier, :roc_auc, :pr_auc, :rows, :start, :end, "
            "cast(:metadata as jsonb)) returning id"
        ),
        {
            "model_name": model_name,
            "run_id": mlflow_run_id,
            "version": str(model_version),
            "status": STAGING,
            "f1": to_jsonable(evaluation.f1),
            "brier": to_jsonable(evaluation.brier),
            "roc_auc": to_jsonable(evaluation.roc_auc),
            "pr_auc": to_jsonable(evaluation.pr_auc),
            "rows": int(training_rows),
            "start": training_window[0],
            "end": training_window[1],
            "metadata": to_json(metadata),
        },
    ).one()
    return int(row[0])


def insert_family_version(
    conn: Connection,
    *,
    model_name: str,
    mlflow_run_id: str,
    model_version: str,
    primary_metric: str,
    primary_value: float | None,
    training_rows: int,
    training_window: tuple[datetime, datetime] | None,
    metadata: Mapping[str, Any],
) -> int:
    """Insert a candidate of a family in its own terms (no binary-classifier columns) as ``staging``: its
    headline metric in ``primary_metric``/``primary_value``, every metric in ``metadata``; returns the row id."""
    row = conn.execute(
        sa.text(
            "insert into mlops.model_versions (model_name, mlflow_run_id, model_version, status, primary_metric, "
            "primary_value, training_rows, training_window_start, training_window_end, metadata) values (:model_name, "
            ":run_id, :version, :status, :metric, :value, :rows, :start, :end, cast(:metadata as jsonb)) returning id"
        ),
        {
            "model_name": model_name,
            "run_id": mlflow_run_id,
            "version": str(model_version),
            "status": STAGING,
            "metric": primary_metric,
            "value": to_jsonable(primary_value),
            "rows": int(training_rows),
            "start": training_window[0] if training_window else None,
            "end": training_window[1] if training_window else None,
            "metadata": to_json(metadata),
        },
    ).one()
    return int(row[0])


def model_version_row(conn: Connection, mlflow_run_id: str) -> dict[str, Any] | None:
    """The model_versions row of a run, or None."""
    row = conn.execute(
        sa.text("select * from mlops.model_versions where mlflow_run_id = :run_id"), {"run_id": mlflow_run_id}
    ).mappings().one_or_none()
    return dict(row) if row else None


def champion_of(conn: Connection, model_name: str | None = None) -> dict[str, Any] | None:
    """The ``production`` row of ``model_name`` (one per model), or the most recently promoted one when
    no name is given; None when there is none."""
    query = "select * from mlops.model_versions where status = :status "
    params: dict[str, Any] = {"status": PRODUCTION}
    if model_name:
        query += "and model_name = :name "
        params["name"] = model_name
    query += "order by promoted_at desc nulls last, id desc limit 1"
    row = conn.execute(sa.text(query), params).mappings().first()
    return dict(row) if row else None


def newest_attempt(conn: Connection, model_name: str | None = None) -> dict[str, Any] | None:
    """The newest ``model_versions`` row (the latest training attempt, whatever its status) of
    ``model_name``, or of any model when no name is given; None when nothing was trained yet."""
    query = "select * from mlops.model_versions "
    params: dict[str, Any] = {}
    if model_name:
        query += "where model_name = :name "
        params["name"] = model_name
    query += "order by created_at desc, id desc limit 1"
    row = conn.execute(sa.text(query), params).mappings().first()
    return dict(row) if row else None


class DecisionExistsError(ValueError):
    """A candidate already has its promotion decision (one decision per model version)."""


def decision_of(conn: Connection, candidate_run_id: str) -> dict[str, Any] | None:
    """The decision recorded for a candidate run (id, action, dagster_run_id), or None."""
    row = conn.execute(
        sa.text(
            "select id, action, dagster_run_id from mlops.retraining_decisions "
            "where candidate_mlflow_run_id = :run_id and duplicate_of is null order by id limit 1"
        ),
        {"run_id": candidate_run_id},
    ).mappings().first()
    return dict(row) if row else None


def record_decision(
    conn: Connection,
    *,
    model_name: str,
    decision: Decision,
    candidate_run_id: str,
    champion_run_id: str | None,
    dagster_run_id: str | None,
) -> int:
    """Insert the decision with every gate's result; returns its id.

    A candidate gets one decision: a second one is refused with :class:`DecisionExistsError`
    (the unique index ``retraining_decisions_one_per_candidate`` settles concurrent writers).
    """
    row = conn.execute(
        sa.text(
            "insert into mlops.retraining_decisions (action, model_name, candidate_mlflow_run_id, "
            "champion_mlflow_run_id, gate_results, reasoning, dagster_run_id) values (:action, :model_name, "
            ":candidate, :champion, cast(:gates as jsonb), :reasoning, :dagster_run_id) "
            "on conflict (candidate_mlflow_run_id) where candidate_mlflow_run_id is not null and duplicate_of is null "
            "do nothing returning id"
        ),
        {
            "action": decision.action,
            "model_name": model_name,
            "candidate": candidate_run_id,
            "champion": champion_run_id,
            "gates": to_json(gate_results_json(decision)),
            "reasoning": decision.reasoning,
            "dagster_run_id": dagster_run_id,
        },
    ).one_or_none()
    if row is None:
        existing = decision_of(conn, candidate_run_id) or {}
        raise DecisionExistsError(
            f"candidate run {candidate_run_id!r} already has decision #{existing.get('id', '?')} "
            f"({existing.get('action', '?')}, Dagster run {existing.get('dagster_run_id') or '-'}): "
            "a model version gets one decision"
        )
    return int(row[0])


def apply_decision(conn: Connection, *, model_name: str, action: str, candidate_run_id: str) -> None:
    """Move statuses: promote archives the old production row first, then promotes the candidate;
    reject archives the candidate. Raises LookupError when the candidate has no model_versions row."""
    if model_version_row(conn, candidate_run_id) is None:
        raise LookupError(f"no mlops.model_versions row for candidate run {candidate_run_id!r}")
    if action == "promote":
        conn.execute(
            sa.text(
                "update mlops.model_versions set status = :archived, archived_at = now() "
                "where model_name = :name and status = :production and mlflow_run_id <> :run_id"
            ),
            {"archived": ARCHIVED, "production": PRODUCTION, "name": model_name, "run_id": candidate_run_id},
        )
        conn.execute(
            sa.text(
                "update mlops.model_versions set status = :production, promoted_at = now(), archived_at = null "
                "where mlflow_run_id = :run_id"
            ),
            {"production": PRODUCTION, "run_id": candidate_run_id},
        )
    elif action == "reject":
        conn.execute(
            sa.text(
                "update mlops.model_versions set status = :archived, archived_at = now() "
                "where mlflow_run_id = :run_id and status = :staging"
            ),
            {"archived": ARCHIVED, "staging": STAGING, "run_id": candidate_run_id},
        )
    else:
        raise ValueError(f"action must be 'promote' or 'reject', got {action!r}")
