"""``mlops.predictions``: the serving API's prediction log (one row per predicted instance)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storeml_assets.jsonsafe import to_json


@dataclass(frozen=True)
class PredictionRow:
    """One logged prediction: what was asked, what was answered, by which model, how fast."""

    family: str
    model_name: str
    model_version: str
    input: Mapping[str, Any]
    output: Mapping[str, Any]
    confidence: float | None
    latency_ms: float
    request_id: str
    timestamp: datetime

    def record(self) -> dict[str, Any]:
        """The row as a JSON object (the timestamp as ISO text)."""
        return {
            "family": self.family,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "input": dict(self.input),
            "output": dict(self.output),
            "confidence": self.confidence,
            "latency_ms": self.latency_ms,
            "request_id": self.request_id,
            "ts": self.timestamp.isoformat(),
        }


#: One statement per batch: the rows travel as one bound JSON array (no per-row round trip).
_INSERT = sa.text(
    "insert into mlops.predictions "
    "(family, model_name, model_version, input, output, confidence, latency_ms, request_id, \"timestamp\") "
    "select r.family, r.model_name, r.model_version, r.input, r.output, r.confidence, r.latency_ms, r.request_id, "
    "r.ts from jsonb_to_recordset(cast(:rows as jsonb)) as r(family text, model_name text, model_version text, "
    "input jsonb, output jsonb, confidence double precision, latency_ms double precision, request_id text, "
    "ts timestamptz)"
)


def insert_predictions(conn: Connection, rows: Sequence[PredictionRow]) -> int:
    """Insert ``rows`` with one statement (one transaction is the caller's); returns how many."""
    if rows:
        conn.execute(_INSERT, {"rows": to_json([row.record() for row in rows])})
    return len(rows)


def predictions_of_request(conn: Connection, request_id: str) -> list[dict[str, Any]]:
    """The logged rows of one request, oldest first."""
    result = conn.execute(
        sa.text("select family, model_name, model_version, input, output, confidence, latency_ms, request_id, "
                "\"timestamp\" from mlops.predictions where request_id = :request_id order by id"),
        {"request_id": request_id},
    )
    return [dict(row) for row in result.mappings()]


def count_predictions(conn: Connection, model_name: str | None = None) -> int:
    """How many predictions are logged (of ``model_name`` when given)."""
    if model_name is None:
        return int(conn.execute(sa.text("select count(*) from mlops.predictions")).scalar_one())
    return int(conn.execute(sa.text("select count(*) from mlops.predictions where model_name = :m"),
                            {"m": model_name}).scalar_one())


def predictions_between(conn: Connection, family: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The logged rows of ``family`` with ``start <= timestamp < end`` (input, output, confidence,
    latency_ms, request_id, model_version, timestamp), oldest first."""
    result = conn.execute(
        sa.text("select model_version, input, output, confidence, latency_ms, request_id, \"timestamp\" "
                "from mlops.predictions "
                "where family = :family and \"timestamp\" >= :start and \"timestamp\" < :end order by \"timestamp\", id"),
        {"family": family, "start": start, "end": end},
    )
    return [dict(row) for row in result.mappings()]
