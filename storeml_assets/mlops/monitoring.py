"""``mlops.monitoring_metrics``: drift, coverage and retraining-trigger rows, and the newest drift figure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection


class MetricParams(Protocol):
    """A metric row that gives its bind parameters (metric_type, metric_name, metric_value, model_name,
    model_version, metadata as JSON text) and its metadata."""

    @property
    def metadata(self) -> Mapping[str, Any]: ...

    def params(self) -> dict[str, Any]: ...


_INSERT = sa.text(
    "insert into mlops.monitoring_metrics "
    "(metric_type, metric_name, metric_value, model_name, model_version, metadata) "
    "values (:metric_type, :metric_name, :metric_value, :model_name, :model_version, cast(:metadata as jsonb)) "
    "returning id"
)

_INSERT_TRIGGER_ONCE = sa.text(
    "insert into mlops.monitoring_metrics "
    "(metric_type, metric_name, metric_value, model_name, model_version, metadata) "
    "select :metric_type, :metric_name, :metric_value, :model_name, :model_version, cast(:metadata as jsonb) "
    "where not exists (select 1 from mlops.monitoring_metrics "
    "where metric_type = 'trigger' and metadata ->> 'run_key' = :run_key) "
    "returning id"
)


def insert_metrics(conn: Connection, rows: Sequence[MetricParams]) -> list[int]:
    """Insert ``rows`` (one transaction is the caller's); returns their ids."""
    return [int(conn.execute(_INSERT, row.params()).scalar_one()) for row in rows]


def insert_trigger_once(conn: Connection, row: MetricParams) -> int | None:
    """Insert a trigger row unless one with the same run key exists; its id, or None if it existed."""
    run_key = row.metadata.get("run_key")
    if not run_key:
        raise ValueError("a trigger row needs metadata['run_key']")
    found = conn.execute(_INSERT_TRIGGER_ONCE, {**row.params(), "run_key": run_key}).scalar_one_or_none()
    return None if found is None else int(found)


def latest_drift(
    conn: Connection, model_name: str | None = None, *, metric_type: str = "drift", metric_name: str = "drift_share"
) -> dict[str, Any] | None:
    """The newest ``metric_name`` row (default ``drift_share``: metric_id, metric_value, timestamp, model_name,
    model_version) of ``model_name`` (of any model when None), or None when there is none."""
    if model_name is None:
        query = sa.text(
            "select metric_id, metric_value, \"timestamp\", model_name, model_version from mlops.v_recent_monitoring "
            "where metric_type = :t and metric_name = :n order by \"timestamp\" desc, metric_id desc limit 1"
        )
        params: dict[str, Any] = {"t": metric_type, "n": metric_name}
    else:
        query = sa.text(
            "select id as metric_id, metric_value, \"timestamp\", model_name, model_version "
            "from mlops.monitoring_metrics where metric_type = :t and metric_name = :n and model_name = :m "
            "order by \"timestamp\" desc, id desc limit 1"
        )
        params = {"t": metric_type, "n": metric_name, "m": model_name}
    row = conn.execute(query, params).mappings().first()
    return dict(row) if row else None
