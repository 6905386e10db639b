"""``create_app``: the serving API (FastAPI), its lifespan, error shape and body limit."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storeml_assets.serving.batching import MicroBatcher
from storeml_assets.serving.champions import ChampionStore, Registry
from storeml_assets.serving.config import ServeConfig
from storeml_assets.serving.database import create_pool
from storeml_assets.serving.deps import ServingState
from storeml_assets.serving.errors import ApiError, field_path
from storeml_assets.serving.families import ServedFamily, registered_families
from storeml_assets.serving.metrics import ServingMetrics
from storeml_assets.serving.predlog import PredictionLog
from storeml_assets.serving.routers import analytics, health, metrics, predict, v2

log = logging.getLogger("storeml.serving")


class BodyLimit:
    """Answer 413 to any request body larger than ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLargeError
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLargeError:
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"body: request body larger than {self.max_bytes} bytes"
        response = JSONResponse({"error": message, "details": [{"loc": ["body"], "msg": message}]}, status_code=413)
        await response(scope, receive, send)


class _TooLargeError(Exception):
    pass


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "invalid"))} for e in exc.errors()]
    first = details[0] if details else {"loc": ["body"], "msg": "invalid request"}
    message = f"{field_path(first['loc'])}: {first['msg']}"
    return JSONResponse({"error": message, "details": details}, status_code=422)


def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse({"error": str(exc.detail), "details": []}, status_code=exc.status_code,
                        headers=dict(exc.headers or {}))


def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error answering a request")
    return JSONResponse({"error": f"internal error ({type(exc).__name__})", "details": []}, status_code=500)


def build_state(config: ServeConfig, families: Sequence[ServedFamily]) -> ServingState:
    """The service's parts, not yet started (the pool opens no connection here)."""
    engine = create_pool(config.database_url, pool_size=config.pool_size, pool_timeout=config.pool_timeout_seconds,
                         connect_timeout=config.connect_timeout_seconds,
                         statement_timeout_ms=config.statement_timeout_ms)
    prediction_log = PredictionLog(engine, max_queue=config.log_queue_size, batch_size=config.log_batch_size)
    pool: Any = engine.pool
    serving_metrics = ServingMetrics(queue_depth=lambda: prediction_log.depth,
                                     dropped=lambda: prediction_log.dropped,
                                     pool_in_use=lambda: pool.checkedout() if hasattr(pool, "checkedout") else 0)
    champions = ChampionStore(
        families, Registry(config.tracking_uri), config.cache_dir, poll_seconds=config.poll_seconds,
        on_reload=lambda family, outcome: serving_metrics.reloads.labels(family, outcome).inc(),
    )
    batchers = {f.name: MicroBatcher(f, functools.partial(champions.get, f.name), threads=config.predict_threads)
                for f in families if f.flavor == "sklearn"}  # pyfunc families answer each request on its own
    return ServingState(config=config, engine=engine, champions=champions, prediction_log=prediction_log,
                        metrics=serving_metrics, batchers=batchers)


def create_app(config: ServeConfig | None = None, families: Sequence[ServedFamily] | None = None) -> FastAPI:
    """The serving API for ``config`` (default: the settings) and ``families`` (default: the registry)."""
    config = config or ServeConfig.from_settings()
    state = build_state(config, registered_families() if families is None else families)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.champions.load_cached()
        state.champions.start()
        state.prediction_log.start()
        for batcher in state.batchers.values():
            batcher.start()
        state.metrics.start()
        try:
            yield
        finally:
            for batcher in state.batchers.values():
                batcher.stop()
            state.champions.stop()
            state.prediction_log.stop()
            state.metrics.stop()
            state.engine.dispose()

    app = FastAPI(
        title="storeml serving",
        description="Predictions by each family's champion, and the warehouse's products and bundle rules.",
        version="1",
        lifespan=lifespan,
    )
    app.state.serving = state
    for router in (health.router, predict.router, analytics.router, v2.router, metrics.router):
        app.include_router(router)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    return app
