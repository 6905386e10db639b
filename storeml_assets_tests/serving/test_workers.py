"""``storeml serve --workers 2`` as a real process: both workers answer, follow a promotion, log every
prediction, and ``/metrics`` (from whichever worker answers) counts the requests of both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from storeml_assets_tests.serving.conftest import FAMILY, Stack, _free_port, instance, wait_for

pytestmark = pytest.mark.slow  # trains two models, runs MLflow's migrations, starts a two-worker server

PREDICT = f"/v1/models/{FAMILY}/predict"


def _samples(base: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples called ``name`` in ``/metrics``, by their sorted labels."""
    text = httpx.get(base + "/metrics", timeout=10).text
    return {tuple(sorted(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples if s.name == name}


def _pids(base: str, attempts: int = 16) -> set[int]:
    """The worker pids seen by ``attempts`` concurrent ``/health`` requests on fresh connections."""
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: httpx.get(base + "/health", timeout=10).json(), range(attempts)))
    return {a["worker_pid"] for a in answers}


def _all_ready(base: str) -> bool:
    try:
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda _: httpx.get(base + "/ready", timeout=5).status_code, range(16)))
    except httpx.TransportError:
        return False
    return set(codes) == {200}


def _running(process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"storeml serve --workers 2 exited with {process.returncode}")
    return True


@pytest.fixture
def two_workers(stack: Stack) -> Iterator[Stack]:
    stack.promote(stack.versions[0])
    port = _free_port()
    env = stack.env | {"STOREML_SERVE_POLL_SECONDS": "0.3"}
    log = (stack.home / f"serve-workers-{port}.log").open("wb")
    process = subprocess.Popen([str(Path(sys.executable).parent / "storeml"), "serve", "--port", str(port),
                                "--workers", "2"], env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    stack.process, stack.port = process, port
    try:
        wait_for(lambda: _running(process) and _all_ready(stack.base), 120, "both workers to be ready")
        yield stack
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # the server and the workers it started
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        stack.process = None


def test_two_workers_answer_follow_the_champion_log_and_share_metrics(two_workers: Stack) -> None:
    stack = two_workers
    first, second = stack.versions
    wait_for(lambda: len(_pids(stack.base)) == 2, 60, "two distinct workers to answer /health")
    health = httpx.get(stack.base + "/health").json()
    assert health["models"][FAMILY]["loaded_version"] == first

    request_ids = [uuid.uuid4().hex for _ in range(40)]

    def predict(request_id: str) -> tuple[int, str]:
        response = httpx.post(stack.base + PREDICT, json={"instances": [instance(i) for i in range(3)]},
                              headers={"x-request-id": request_id}, timeout=30)
        return response.status_code, response.json().get("version", response.text)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(predict, request_ids))
    assert answers == [(200, first)] * 40

    # the log of both workers: every prediction of every request
    count = "select count(*), count(distinct request_id) from mlops.v_predictions where request_id = any(%s)"
    wait_for(lambda: stack.storeml_query(count, (request_ids,))[0] == (120, 40), 60, "both workers' logged rows")

    # /metrics from whichever worker answers counts the requests of both
    ok = {(("family", FAMILY), ("status", "ok"), ("version", first)): 40.0}
    for _ in range(6):
        assert _samples(stack.base, "storeml_predict_requests_total") == ok
        latency = _samples(stack.base, "storeml_predict_latency_seconds_count")
        assert latency[(("family", FAMILY), ("status", "ok"), ("version", first))] == 40.0
    success = (("family", FAMILY), ("outcome", "success"))
    loads = _samples(stack.base, "storeml_model_reloads_total")[success]
    assert loads in {1.0, 2.0}  # the worker that starts second may find the first one's load in the disk cache
    wait_for(lambda: set(_samples(stack.base, "storeml_prediction_log_queue_depth").values()) == {0.0}, 30,
             "the summed log queue depth to reach 0")
    assert set(_samples(stack.base, "storeml_prediction_log_dropped").values()) == {0.0}

    # a promotion reaches both workers
    stack.promote(second)
    wait_for(lambda: {predict(uuid.uuid4().hex)[1] for _ in range(12)} == {second}, 60,
             "every worker to answer with the promoted version")
    assert _samples(stack.base, "storeml_model_reloads_total")[success] == loads + 2  # each worker loaded it
