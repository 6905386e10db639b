"""``POST /v1/models/{family}/predict``: inline instances or customer ids, answered by the champion."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from storeml_assets.mlops.predictions import PredictionRequest
from storeml_assets.serving import database
from storeml_assets.serving.batching import ChampionNotLoadedError
from storeml_assets.serving.deps import ServingState, State, require_token
from storeml_assets.serving.errors import ApiError
from storeml_assets.serving.families import InstanceError, ServedFamily
from storeml_assets.serving.schemas import ErrorResponse, Prediction, PredictRequest, PredictResponse

router = APIRouter(prefix="/v1/models", tags=["predict"], dependencies=[Depends(require_token)])

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 404, 413, 422, 503)
}


def served(state: ServingState, family: str) -> ServedFamily:
    found = state.champions.families.get(family)
    if found is None:
        known = ", ".join(sorted(state.champions.families)) or "none"
        raise ApiError(404, f"unknown model family {family!r} (served: {known})", loc=["path", "family"])
    return found


async def predict_rows(state: ServingState, family: ServedFamily, rows: list[dict[str, Any]], *,
                       request_id: str, ids: list[int] | None = None, body: str | None = None) -> PredictResponse:
    """Predict ``rows`` with the family's current champion (micro-batched), log them, count the request.
    ``body``: the request body whose ``instances`` are ``rows``, logged as received."""
    started = time.perf_counter()
    if state.champions.get(family.name) is None:
        reason = state.champions.state(family.name).error or "champion not loaded yet"
        raise ApiError(503, f"{family.name}: {reason}", headers={"Retry-After": "5"})
    try:
        family.validate(rows)
    except InstanceError as exc:
        state.metrics.requests.labels(family.name, "", "invalid").inc()
        raise ApiError(422, f"{_path(exc.loc)}: {exc.message}", loc=exc.loc) from None
    try:
        result = await asyncio.wrap_future(state.batchers[family.name].submit(rows))
    except ChampionNotLoadedError:
        raise ApiError(503, f"{family.name}: champion not loaded yet", headers={"Retry-After": "5"}) from None
    except Exception:
        state.metrics.requests.labels(family.name, "", "error").inc()
        raise
    elapsed = time.perf_counter() - started
    state.metrics.latency.labels(family.name, result.version, "ok").observe(elapsed)
    state.metrics.requests.labels(family.name, result.version, "ok").inc()
    latency_ms = elapsed * 1000.0
    now = datetime.now(UTC)
    outputs = result.outputs
    if state.config.log_predictions:
        state.prediction_log.offer(PredictionRequest(
            family=family.name, model_name=family.registered_model, model_version=result.version,
            request_id=request_id, timestamp=now, latency_ms=latency_ms, inputs=rows, outputs=outputs,
            inputs_json=body))
    predictions = [Prediction(**out, customer_id=ids[i] if ids else None) for i, out in enumerate(outputs)]
    return PredictResponse(model=family.registered_model, version=result.version, request_id=request_id,
                           predictions=predictions)


def _path(loc: tuple[str | int, ...] | list[str | int]) -> str:
    from storeml_assets.serving.errors import field_path

    return field_path(loc)


@router.post("/{family}/predict", response_model=PredictResponse, responses=ERRORS)
async def predict_family(family: str, body: PredictRequest, state: State, request: Request) -> PredictResponse:
    """Predict a batch: ``{"instances": [{feature: value}, ...]}`` or ``{"customer_ids": [1, 2]}``."""
    served_family = served(state, family)
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
    limit = state.config.max_instances
    if body.instances is not None:
        if len(body.instances) > limit:
            raise ApiError(422, f"instances: at most {limit} per request, got {len(body.instances)}",
                           loc=["body", "instances"])
        return await predict_rows(state, served_family, [dict(i) for i in body.instances], request_id=request_id,
                                  body=await _body_text(request))
    ids = list(body.customer_ids or [])
    if len(ids) > limit:
        raise ApiError(422, f"customer_ids: at most {limit} per request, got {len(ids)}", loc=["body", "customer_ids"])
    source = served_family.id_source
    if source is None:
        raise ApiError(422, f"customer_ids: family {family!r} predicts from inline instances only",
                       loc=["body", "customer_ids"])
    try:
        found = await run_in_threadpool(database.with_connection, state.engine,
                                        lambda conn: database.latest_features(conn, source, ids, served_family.signature))
    except database.DatabaseUnavailableError as exc:
        raise ApiError(503, f"customer features unavailable: {exc}",
                       headers={"Retry-After": str(database.RETRY_AFTER_SECONDS)}) from None
    except database.TableMissingError:
        raise ApiError(503, f"customer_ids: {source.schema}.{source.table} is not materialized yet",
                       loc=["body", "customer_ids"],
                       headers={"Retry-After": str(database.RETRY_AFTER_SECONDS)}) from None
    missing = [i for i in ids if i not in found]
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise ApiError(404, f"customer_ids: no features for {shown}", loc=["body", "customer_ids"])
    rows = [_numbers(found[i]) for i in ids]
    return await predict_rows(state, served_family, rows, request_id=request_id, ids=ids)


async def _body_text(request: Request) -> str | None:
    """The JSON body as text (already read and parsed by then: no second read), None unless UTF-8."""
    raw = await request.body()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:  # UTF-16/32 JSON is valid too: its rows are encoded for the log instead
        return None


def _numbers(row: dict[str, Any]) -> dict[str, Any]:
    """Database values as JSON scalars (decimals to floats, dates to text)."""
    from decimal import Decimal

    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, Decimal | bool):
            out[key] = float(value)
        elif value is None or isinstance(value, int | float | str | bool):
            out[key] = value
        else:
            out[key] = str(value)
    return out
