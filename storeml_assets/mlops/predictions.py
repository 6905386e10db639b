"""The serving API's prediction log: ``mlops.prediction_requests`` (one row per answered request)
read per prediction through ``mlops.v_predictions`` (which also shows ``mlops.predictions``, rows
logged one by one).

A request is written as one row with COPY: its instances, outputs and confidences as three arrays
in the same order, each encoded to JSON once (inline instances are logged as the request body that
carried them, not encoded again). That keeps a batch of 100 at the cost of one row instead of 100
JSON rows and 400 index entries.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
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


@dataclass(frozen=True)
class PredictionRequest:
    """One answered request: ``inputs[i]`` was answered by ``outputs[i]`` (confidence ``confidences[i]``,
    default: each output's ``confidence``)."""

    family: str
    model_name: str
    model_version: str
    request_id: str
    timestamp: datetime
    latency_ms: float
    inputs: Sequence[Mapping[str, Any]]
    outputs: Sequence[Mapping[str, Any]]
    confidences: Sequence[float | None] | None = None
    #: ``inputs`` already as JSON text, logged as it is: a JSON array, or the request body as received whose
    #: ``instances`` is that array (an inline batch is then never encoded again).
    inputs_json: str | None = None

    def __post_init__(self) -> None:
        if len(self.inputs) != len(self.outputs):
            raise ValueError(f"request {self.request_id!r}: {len(self.inputs)} inputs but {len(self.outputs)} outputs")
        if self.confidences is not None and len(self.confidences) != len(self.inputs):
            raise ValueError(f"request {self.request_id!r}: {len(self.inputs)} inputs but "
                             f"{len(self.confidences)} confidences")

    def __len__(self) -> int:
        return len(self.inputs)

    def copy_line(self) -> str:
        """The request as one line of ``COPY ... from stdin`` text format (see :data:`COPY_COLUMNS`)."""
        confidences = self.confidences
        if confidences is None:
            confidences = [out.get("confidence") for out in self.outputs]
        fields = (
            _text(self.family), _text(self.model_name), _text(self.model_version), _text(self.request_id),
            _text(self.inputs_json if self.inputs_json is not None else _json_array(self.inputs)),
            _text(_json_array(self.outputs)), _float_array(confidences),
            _number(self.latency_ms), _text(self.timestamp.isoformat()),
        )
        return "\t".join(fields) + "\n"


#: The columns of ``mlops.prediction_requests`` that :meth:`PredictionRequest.copy_line` fills, in order.
COPY_COLUMNS = ("family", "model_name", "model_version", "request_id", "instances", "outputs", "confidences",
                "latency_ms", "timestamp")

_COPY = "copy mlops.prediction_requests ({}) from stdin".format(", ".join(f'"{c}"' for c in COPY_COLUMNS))
_NULL = "\\N"


def _text(value: str | None) -> str:
    """``value`` escaped for COPY's text format (C-speed replaces: a request's JSON is tens of kilobytes)."""
    if value is None:
        return _NULL
    # a replace copies the whole text even when it finds nothing; the usual body has none of the four
    if "\\" not in value and "\n" not in value and "\r" not in value and "\t" not in value:
        return value
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def _number(value: float | None) -> str:
    return _NULL if value is None or not math.isfinite(value) else repr(float(value))


def _float_array(values: Iterable[Any]) -> str:
    values = values if isinstance(values, list) else list(values)
    if all(type(value) is float for value in values):  # the usual case: Python floats, written by repr
        text = ",".join(map(repr, values))
        if "n" not in text:  # no "nan" nor "inf"
            return "{" + text + "}"
    items = []
    for value in values:
        number = None if value is None else float(value)
        items.append("NULL" if number is None or not math.isfinite(number) else repr(number))
    return "{" + ",".join(items) + "}"


def _json_array(items: Sequence[Mapping[str, Any]]) -> str:
    """Strict JSON of ``items``: plain values through orjson (NaN and infinities as null, as the sanitiser
    writes them; twenty times faster than the standard encoder on a batch's outputs), anything else sanitised."""
    try:
        return orjson.dumps(items if isinstance(items, list) else list(items)).decode()
    except TypeError:  # numpy scalars, non-text keys, huge integers: the one sanitiser makes them JSON
        return to_json(list(items))


def write_requests(conn: Connection, requests: Sequence[PredictionRequest]) -> int:
    """COPY ``requests`` into ``mlops.prediction_requests`` in the caller's transaction, without waiting for the
    commit to reach disk (a lost tail of the log on a crash is acceptable); returns how many predictions."""
    if not requests:
        return 0
    conn.execute(sa.text("set local synchronous_commit = off"))
    text = io.StringIO("".join(request.copy_line() for request in requests))
    cursor = conn.connection.cursor()
    try:
        cursor.copy_expert(_COPY, text, size=1 << 20)  # a 100-instance request is ~160 kB: few reads, not 8 kB ones
    finally:
        cursor.close()
    return sum(len(request) for request in requests)


def as_requests(rows: Sequence[PredictionRow]) -> list[PredictionRequest]:
    """``rows`` grouped into requests: consecutive rows of one request (same id, model, latency and time)."""
    requests: list[PredictionRequest] = []
    group: list[PredictionRow] = []

    def close() -> None:
        if group:
            first = group[0]
            requests.append(PredictionRequest(
                family=first.family, model_name=first.model_name, model_version=first.model_version,
                request_id=first.request_id, timestamp=first.timestamp, latency_ms=first.latency_ms,
                inputs=[dict(r.input) for r in group], outputs=[dict(r.output) for r in group],
                confidences=[r.confidence for r in group],
            ))
            group.clear()

    for row in rows:
        if group and _request_key(row) != _request_key(group[0]):
            close()
        group.append(row)
    close()
    return requests


def _request_key(row: PredictionRow) -> tuple[Any, ...]:
    return row.family, row.model_name, row.model_version, row.request_id, row.latency_ms, row.timestamp


def insert_predictions(conn: Connection, rows: Sequence[PredictionRow]) -> int:
    """Log ``rows`` (grouped into their requests) in the caller's transaction; returns how many."""
    return write_requests(conn, as_requests(rows))


_COLUMNS = "family, model_name, model_version, input, output, confidence, latency_ms, request_id, \"timestamp\""


def predictions_of_request(conn: Connection, request_id: str) -> list[dict[str, Any]]:
    """The logged predictions of one request, in the order they were answered."""
    result = conn.execute(
        sa.text(f"select {_COLUMNS} from mlops.v_predictions where request_id = :request_id "
                "order by logged_as, log_id, position"),
        {"request_id": request_id},
    )
    return [dict(row) for row in result.mappings()]


def count_predictions(conn: Connection, model_name: str | None = None) -> int:
    """How many predictions are logged (of ``model_name`` when given)."""
    if model_name is None:
        return int(conn.execute(sa.text(
            "select (select count(*) from mlops.predictions) "
            "+ (select coalesce(sum(json_array_length(outputs)), 0) from mlops.prediction_requests)")).scalar_one())
    return int(conn.execute(sa.text(
        "select (select count(*) from mlops.predictions where model_name = :m) "
        "+ (select coalesce(sum(json_array_length(outputs)), 0) from mlops.prediction_requests "
        "where model_name = :m)"), {"m": model_name}).scalar_one())


def predictions_between(conn: Connection, family: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The logged predictions of ``family`` with ``start <= timestamp < end`` (input, output, confidence,
    latency_ms, request_id, model_version, timestamp), oldest first."""
    result = conn.execute(
        sa.text("select model_version, input, output, confidence, latency_ms, request_id, \"timestamp\" "
                "from mlops.v_predictions where family = :family and \"timestamp\" >= :start and \"timestamp\" < :end "
                "order by \"timestamp\", logged_as, log_id, position"),
        {"family": family, "start": start, "end": end},
    )
    return [dict(row) for row in result.mappings()]
