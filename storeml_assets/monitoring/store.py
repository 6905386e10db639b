"""What monitoring decides on: the champion, the newest attempt and drift (from :mod:`storeml_assets.mlops`) as
monitoring records, and the orders in ``raw.orders`` (SQLAlchemy connection, bound values)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storeml_assets import mlops
from storeml_assets.features.training import DataBasis
from storeml_assets.monitoring.metrics import (
    DRIFT,
    DRIFT_SHARE_METRIC,
    SERVED_DRIFT_SHARE_METRIC,
    AttemptState,
    ChampionState,
    DriftObservation,
    ServedDriftObservation,
)

#: Keys of ``model_versions.metadata`` that may name the champion's training cutoff(s), in order (a
#: comma-separated list counts by its last entry); ``training_window_end`` is used when none is present.
CUTOFF_METADATA_KEYS = ("train_cutoffs", "training_cutoff", "train_cutoff", "last_train_cutoff")

def champion_state(conn: Connection, model_name: str | None = None) -> ChampionState | None:
    """The champion (production model version) of ``model_name``, or the newest promoted one."""
    row = mlops.champion_of(conn, model_name)
    if row is None:
        return None
    return ChampionState(
        model_name=row["model_name"],
        model_version=str(row["model_version"]),
        mlflow_run_id=row["mlflow_run_id"],
        training_rows=row["training_rows"],
        training_window_end=row["training_window_end"],
        created_at=row["created_at"],
        promoted_at=row["promoted_at"],
        training_cutoff=champion_cutoff(row["training_window_end"], row["metadata"]),
    )


def newest_attempt(conn: Connection, model_name: str | None = None) -> AttemptState | None:
    """The newest training attempt (promoted or rejected) and the data basis it recorded."""
    row = mlops.newest_attempt(conn, model_name)
    if row is None:
        return None
    metadata = row["metadata"]
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    return AttemptState(
        model_name=row["model_name"],
        model_version=str(row["model_version"]),
        status=row["status"],
        training_rows=row["training_rows"],
        basis=DataBasis.from_metadata(metadata if isinstance(metadata, dict) else None),
        training_window_end=row["training_window_end"],
    )


def champion_cutoff(training_window_end: datetime | None, metadata: Any) -> datetime | None:
    """The champion's last training cutoff: a metadata key (:data:`CUTOFF_METADATA_KEYS`) or the window end."""
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    if isinstance(metadata, dict):
        for key in CUTOFF_METADATA_KEYS:
            value = metadata.get(key)
            if isinstance(value, list | tuple):
                value = value[-1] if value else None
            if value:
                last = str(value).split(",")[-1].strip().replace("Z", "+00:00")
                try:
                    parsed = datetime.fromisoformat(last)
                except ValueError:
                    raise ValueError(f"model_versions.metadata[{key!r}] is not an ISO date: {last!r}") from None
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return training_window_end


def latest_drift(conn: Connection, model_name: str | None = None) -> DriftObservation | None:
    """The newest drift share measured (for ``model_name``, or for any model when None)."""
    row = mlops.latest_drift(conn, model_name, metric_type=DRIFT, metric_name=DRIFT_SHARE_METRIC)
    if row is None or row["metric_value"] is None:
        return None
    return DriftObservation(int(row["metric_id"]), float(row["metric_value"]), row["timestamp"], row["model_version"])


def latest_served_drift(conn: Connection, model_name: str) -> ServedDriftObservation | None:
    """The newest served-input drift share of ``model_name`` (its share None when that row had too few
    served rows to compare), or None when none was written."""
    row = mlops.latest_drift(conn, model_name, metric_type=DRIFT, metric_name=SERVED_DRIFT_SHARE_METRIC)
    if row is None:
        return None
    value = row["metric_value"]
    return ServedDriftObservation(int(row["metric_id"]), None if value is None else float(value), row["timestamp"],
                                  row["model_version"])


def raw_orders_exist(conn: Connection) -> bool:
    return conn.execute(sa.text("select to_regclass('raw.orders') is not null")).scalar_one()


def latest_order_at(conn: Connection) -> datetime | None:
    if not raw_orders_exist(conn):
        return None
    return conn.execute(sa.text("select max(ordered_at) from raw.orders")).scalar_one()


def order_count(conn: Connection) -> int | None:
    """Orders in ``raw.orders`` (None when there is no raw.orders)."""
    if not raw_orders_exist(conn):
        return None
    return int(conn.execute(sa.text("select count(*) from raw.orders")).scalar_one())


def orders_after(conn: Connection, moment: datetime | None) -> int | None:
    """Orders in ``raw.orders`` placed after ``moment`` (None when there is no raw.orders or no moment)."""
    if moment is None or not raw_orders_exist(conn):
        return None
    return int(conn.execute(sa.text("select count(*) from raw.orders where ordered_at > :m"), {"m": moment}).scalar_one())
