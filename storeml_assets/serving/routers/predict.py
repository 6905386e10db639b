"""``POST /v1/models/{family}/predict``: inline instances or customer ids, answered by the champion.

A binary classifier's champion is micro-batched and answers class, score and probabilities; a family in
its own terms (an ``mlflow.pyfunc`` champion, :mod:`storeml_assets.serving.generic`) answers its own rows."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from storeml_assets.mlops.predictions import PredictionRequest
from storeml_assets.serving import database, generic
from storeml_assets.serving.batching import ChampionNotLoadedError
from storeml_assets.serving.deps import ServingState, State, require_token
from storeml_assets.serving.errors import ApiError
from storeml_assets.serving.families import InstanceError, ServedFamily
from storeml_assets.serving.schemas import (
    ErrorResponse,
    GenericPredictResponse,
    Prediction,
    PredictRequest,
    PredictResponse,
)

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


def _not_loaded(state: ServingState, family: ServedFamily) -> ApiError:
    reason = state.champions.status(family.name) or "champion not loaded yet"
    return ApiError(503, f"{family.name}: {reason}", headers={"Retry-After": "5"})


async def predict_generic(state: ServingState, family: ServedFamily, rows: list[dict[str, Any]], *,
                          request_id: str, body: str | None = None) -> GenericPredictResponse:
    """Predict ``rows`` with the family's ``mlflow.pyfunc`` champion (checked against its signature; a
    refusal by the model is a 422 naming it), log them, count the request."""
    started = time.perf_counter()
    loaded = state.champions.get(family.name)  # one model for the whole request: a swap lands between requests
    if loaded is None:
        raise _not_loaded(state, family)
    try:
        generic.validate(loaded.model, rows)
    except InstanceError as exc:
        state.metrics.requests.labels(family.name, loaded.version, "invalid").inc()
        raise ApiError(422, f"{_path(exc.loc)}: {exc.message}", loc=exc.loc) from None
    try:
        outputs = await run_in_threadpool(generic.predict, loaded.model, rows)
    except (ValueError, TypeError, KeyError) as exc:  # the model refused the instances: a bad request
        state.metrics.requests.labels(family.name, loaded.version, "invalid").inc()
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ApiError(422, f"instances: {message}", loc=["body", "instances"]) from None
    except Exception:
        state.metrics.requests.labels(family.name, loaded.version, "error").inc()
        raise
    elapsed = time.perf_counter() - started
    state.metrics.latency.labels(family.name, loaded.version, "ok").observe(elapsed)
    state.metrics.requests.labels(family.name, loaded.version, "ok").inc()
    if state.config.log_predictions:
        inputs, logged = generic.log_pairs(rows, outputs)
        row_by_row = len(outputs) == len(rows)  # else the request is logged as one prediction, not as its body
        state.prediction_log.offer(PredictionRequest(
            family=family.name, model_name=family.registered_model, model_version=loaded.version,
            request_id=request_id, timestamp=datetime.now(UTC), latency_ms=elapsed * 1000.0, inputs=inputs,
            outputs=logged, inputs_json=body if row_by_row else None))
    return GenericPredictResponse(model=family.registered_model, version=loaded.version, request_id=request_id,
                                  predictions=outputs)


async def predict_rows(state: ServingState, family: ServedFamily, rows: list[dict[str, Any]], *,
                       request_id: str, ids: list[int] | None = None, body: str | None = None) -> PredictResponse:
    """Predict ``rows`` with the family's current champion (micro-batched), log them, count the request.
    ``body``: the request body whose ``instances`` are ``rows``, logged as received."""
    started = time.perf_counter()
    if state.champions.get(family.name) is None:
        raise _not_loaded(state, family)
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


@router.post("/{family}/predict", response_model=GenericPredictResponse | PredictResponse, responses=ERRORS)
async def predict_family(family: str, body: PredictRequest, state: State,
                         request: Request) -> GenericPredictResponse | PredictResponse:
    """Predict a batch: ``{"instances": [{feature: value}, ...]}`` or ``{"customer_ids": [1, 2]}``.
    A family in its own terms takes its model's input columns as instances (review_sentiment: ``title``
    and ``body``; recommendations: ``kind`` and its ids; demand_forecast: ``series``, ``horizon``;
    customer_segmentation: the customer features) and answers its model's rows; customer ids where it
    declares how they become instances (customer_segmentation: the latest ``features.customer_features``
    rows; recommendations: customer requests)."""
    served_family = served(state, family)
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
    limit = state.config.max_instances
    if body.instances is not None:
        if len(body.instances) > limit:
            raise ApiError(422, f"instances: at most {limit} per request, got {len(body.instances)}",
                           loc=["body", "instances"])
        if served_family.flavor == "pyfunc":
            return await predict_generic(state, served_family, [dict(i) for i in body.instances],
                                         request_id=request_id, body=await _body_text(request))
        return await predict_rows(state, served_family, [dict(i) for i in body.instances], request_id=request_id,
                                  body=await _body_text(request))
    ids = list(body.customer_ids or [])
    if len(ids) > limit:
        raise ApiError(422, f"customer_ids: at most {limit} per request, got {len(ids)}", loc=["body", "customer_ids"])
    if not served_family.takes_ids:
        raise ApiError(422, f"customer_ids: family {family!r} predicts from inline instances only",
                       loc=["body", "customer_ids"])
    found = await _latest_rows(state, served_family, ids) if served_family.id_source is not None else {}
    rows = served_family.id_instances(ids, found)
    if served_family.flavor == "pyfunc":
        return await predict_generic(state, served_family, rows, request_id=request_id)
    return await predict_rows(state, served_family, rows, request_id=request_id, ids=ids)


async def _latest_rows(state: ServingState, family: ServedFamily, ids: list[int]) -> dict[int, dict[str, Any]]:
    """The newest row of each id in the family's id source (as JSON scalars): 503 with ``Retry-After`` when the
    database is down or the table not materialized, 404 naming the ids without a row."""
    source = family.id_source
    assert source is not None
    try:
        found = await run_in_threadpool(database.with_connection, state.engine,
                                        lambda conn: database.latest_features(conn, source, ids, family.id_columns))
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
    return {i: _numbers(row) for i, row in found.items()}


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
