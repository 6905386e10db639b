"""``/metrics`` in the Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from storeml_assets.serving.deps import State

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
def metrics(state: State) -> Response:
    """Request latency and counts per family/version/status, reloads, log queue, dropped logs, pool use
    (summed over the workers when there are several)."""
    return Response(state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
