"""``/metrics`` in the Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from storeml_assets.serving.deps import State

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
def metrics(state: State) -> Response:
    """Request latency and counts per family/version/status, reloads, log queue, dropped logs, pool use."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
