"""FastAPI dependencies: the service state, the pool, the champion store, the bearer token."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine

from storeml_assets.serving.batching import MicroBatcher
from storeml_assets.serving.champions import ChampionStore
from storeml_assets.serving.config import ServeConfig
from storeml_assets.serving.metrics import ServingMetrics
from storeml_assets.serving.predlog import PredictionLog


@dataclass
class ServingState:
    config: ServeConfig
    engine: Engine
    champions: ChampionStore
    prediction_log: PredictionLog
    metrics: ServingMetrics
    batchers: dict[str, MicroBatcher]


async def get_state(request: Request) -> ServingState:
    state: ServingState = request.app.state.serving
    return state


async def get_engine(state: Annotated[ServingState, Depends(get_state)]) -> Engine:
    return state.engine


async def get_champions(state: Annotated[ServingState, Depends(get_state)]) -> ChampionStore:
    return state.champions


_bearer = HTTPBearer(auto_error=False, description="STOREML_SERVE_TOKEN, when the service is configured with one.")


async def require_token(
    state: Annotated[ServingState, Depends(get_state)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    expected = state.config.token
    if expected is None:
        return
    if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong bearer token",
                            headers={"WWW-Authenticate": "Bearer"})


State = Annotated[ServingState, Depends(get_state)]
Champions = Annotated[ChampionStore, Depends(get_champions)]
Pool = Annotated[Engine, Depends(get_engine)]
