"""Liveness (``/health``) and readiness (``/ready``)."""

from __future__ import annotations

import os

from fastapi import APIRouter, Response, status

from storeml_assets.serving.champions import NO_CHAMPION_YET
from storeml_assets.serving.deps import State
from storeml_assets.serving.schemas import HealthResponse, LogHealth, ModelHealth, PoolHealth, ReadyResponse

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthResponse)
def health(state: State) -> HealthResponse:
    """Liveness: 200 while the process answers, with models, pool and prediction-log state."""
    models = {}
    for name in state.champions.families:
        family_state = state.champions.state(name)
        loaded = family_state.loaded
        models[name] = ModelHealth(
            loaded_version=loaded.version if loaded else None,
            source=loaded.source if loaded else None,
            registry_version=family_state.registry_version,
            error=state.champions.status(name),
        )
    pool = state.engine.pool
    log = state.prediction_log
    return HealthResponse(
        status="ok",
        worker_pid=os.getpid(),
        models=models,
        registry_error=state.champions.registry_error,
        pool=PoolHealth(size=state.config.pool_size, checked_out=int(getattr(pool, "checkedout", lambda: 0)())),
        prediction_log=LogHealth(queue_depth=log.depth, dropped=log.dropped, written=log.written,
                                 last_error=log.last_error),
    )


@router.get("/ready", response_model=ReadyResponse, responses={503: {"model": ReadyResponse}})
def ready(state: State, response: Response) -> ReadyResponse:
    """Readiness: 200 once every required family's champion is loaded (and every optional family's champion the
    registry names is loaded or failed to load), 503 with the reasons before; optional families without a
    champion are listed in ``not_served``."""
    ok, reasons = state.champions.ready()
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    not_served = [f"{name}: {champions_status}" for name in state.champions.families
                  if (champions_status := state.champions.status(name)) == NO_CHAMPION_YET]
    return ReadyResponse(ready=ok, reasons=reasons, not_served=not_served)
