"""Shared helpers for the monitoring and CLI tests: migrated databases, mlops rows, raw tables."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import polars as pl
import psycopg2
from psycopg2 import sql

from storeml_assets.db.locator import database_url
from storeml_assets.io.pg_tables import replace_table
from storeml_assets.sources.catalog import CATALOG
from storeml_assets.synthetic.simulator import SimulatedData


def migrate_storeml() -> str:
    """Migrate the storeml database of the isolated environment; returns its URL."""
    from storeml_assets.db.migrate import migrate

    migrate(databases=["storeml"])
    return database_url("storeml")


def execute(url: str, query: sql.Composable | str, params: tuple | dict | None = None) -> list[tuple]:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def insert_model_version(url: str, *, version: str, status: str, created_at: datetime,
                         training_rows: int = 1000, training_window_end: datetime | None = None,
                         promoted_at: datetime | None = None, f1: float = 0.6, name: str = "purchase_propensity",
                         metadata: dict[str, Any] | None = None) -> int:
    return execute(
        url,
        "insert into mlops.model_versions (model_name, mlflow_run_id, model_version, status, f1_score, brier_score, "
        "roc_auc, pr_auc, training_rows, training_window_start, training_window_end, created_at, promoted_at, metadata) "
        "values (%s, %s, %s, %s, %s, 0.12, 0.8, 0.5, %s, null, %s, %s, %s, %s) returning id",
        (name, f"run-{version}", version, status, f1, training_rows, training_window_end, created_at,
         promoted_at, json.dumps(metadata or {})),
    )[0][0]


def insert_metric(url: str, metric_type: str, name: str, value: float | None, metadata: dict | None = None,
                  model_name: str = "purchase_propensity") -> int:
    return execute(
        url,
        "insert into mlops.monitoring_metrics (metric_type, metric_name, metric_value, metadata, model_name) "
        "values (%s, %s, %s, %s, %s) returning id",
        (metric_type, name, value, json.dumps(metadata or {}), model_name),
    )[0][0]


def insert_decision(url: str, action: str, candidate_run: str, gates: dict[str, bool]) -> int:
    gate_results = {g: {"passed": ok, "value": 1.0, "threshold": 0.5, "reason": "test"} for g, ok in gates.items()}
    return execute(
        url,
        "insert into mlops.retraining_decisions (action, model_name, candidate_mlflow_run_id, gate_results, reasoning) "
        "values (%s, 'purchase_propensity', %s, %s, 'test decision') returning id",
        (action, candidate_run, json.dumps(gate_results)),
    )[0][0]


def raw_frames_from_simulation(data: SimulatedData) -> dict[str, pl.DataFrame]:
    """Every source table as extracted into ``raw`` (children get their parent's event time)."""
    tables = {name: frame for db in data.databases.values() for name, frame in db.items()}
    out: dict[str, pl.DataFrame] = {}
    for name, table in CATALOG.items():
        frame = tables[name]
        if table.event_time_from is not None:
            parent, join = table.event_time_from
            column = CATALOG[parent].event_time
            if column not in frame.columns:
                frame = frame.join(tables[parent].select(join, column), on=join, how="inner")
        out[name] = frame
    return out


def write_raw(url: str, frames: dict[str, pl.DataFrame]) -> None:
    for name, frame in frames.items():
        replace_table(url, "raw", name, frame.to_arrow())
