"""The analyst views of ``mlops`` as rows, and the reads of the demo summary."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

#: The views an analyst reads (``storeml mlops <kind>``): kind -> view name.
VIEWS: dict[str, str] = {
    "decisions": "v_decision_history",
    "timeline": "v_model_timeline",
    "monitoring": "v_recent_monitoring",
    "families": "v_family_status",
    "metrics": "v_model_metrics",
}


def read_view(conn: Connection, view: str, limit: int) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Every column of ``mlops.<view>`` in the view's own order, and at most ``limit`` rows."""
    if view not in VIEWS.values():
        raise ValueError(f"unknown mlops view {view!r}: expected one of {', '.join(VIEWS.values())}")
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    quoted = conn.dialect.identifier_preparer.quote(view)
    result = conn.execute(sa.text(f"select * from mlops.{quoted} limit :limit"), {"limit": limit})
    return list(result.keys()), [tuple(row) for row in result]


def model_versions_since(conn: Connection, since: datetime) -> list[dict[str, Any]]:
    """Model versions created at or after ``since``, oldest first: model_name, model_version, status,
    f1_score, brier_score, roc_auc and the oracle figures (model_roc_auc, oracle_roc_auc, oracle_ratio)."""
    rows = conn.execute(
        sa.text(
            "select model_name, model_version, status, f1_score, brier_score, roc_auc, "
            "(metadata->'oracle'->>'model_roc_auc')::float as model_roc_auc, "
            "(metadata->'oracle'->>'oracle_roc_auc')::float as oracle_roc_auc, "
            "(metadata->'oracle'->>'ratio')::float as oracle_ratio "
            "from mlops.model_versions where created_at >= :since order by created_at, id"
        ),
        {"since": since},
    ).mappings()
    return [dict(row) for row in rows]


def drift_since(conn: Connection, since: datetime, model_name: str | None = None) -> dict[str, Any] | None:
    """The newest ``drift_share`` row (metric_value, metadata) of ``model_name`` (of any model when None) written at
    or after ``since``."""
    row = conn.execute(
        sa.text(
            "select metric_value, metadata from mlops.monitoring_metrics "
            "where metric_type = 'drift' and metric_name = 'drift_share' "
            "and (cast(:model as text) is null or model_name = :model) "
            "and created_at >= :since order by \"timestamp\" desc, id desc limit 1"
        ),
        {"since": since, "model": model_name},
    ).mappings().first()
    return dict(row) if row else None


def decisions_since(conn: Connection, since: datetime) -> list[dict[str, Any]]:
    """Promotion decisions made at or after ``since``, oldest first: model_name, action, reasoning, gate_results."""
    rows = conn.execute(
        sa.text(
            "select model_name, action, reasoning, gate_results from mlops.retraining_decisions "
            "where decision_timestamp >= :since order by id"
        ),
        {"since": since},
    ).mappings()
    return [dict(row) for row in rows]


def newest_attempts_since(conn: Connection, since: datetime) -> dict[str, dict[str, Any]]:
    """Each model's newest version created at or after ``since`` (model_name, model_version, metadata) with its
    decision's action (None while undecided), keyed by model name."""
    rows = conn.execute(
        sa.text(
            "select distinct on (mv.model_name) mv.model_name, mv.model_version, mv.metadata, d.action "
            "from mlops.model_versions as mv left join mlops.retraining_decisions as d "
            "on d.candidate_mlflow_run_id = mv.mlflow_run_id and d.duplicate_of is null "
            "where mv.created_at >= :since order by mv.model_name, mv.created_at desc, mv.id desc"
        ),
        {"since": since},
    ).mappings()
    return {row["model_name"]: dict(row) for row in rows}
