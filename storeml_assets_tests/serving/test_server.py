"""The serving API as a real uvicorn process against real Postgres and a real MLflow registry.

The tests share one stack (module fixture) and run in order: readiness and promotion, payloads,
ids and analytics, a database outage, a restart with everything down.
"""

from __future__ import annotations

import threading
import uuid

import httpx
import pytest

from storeml_assets_tests.serving.conftest import FAMILY, Stack, instance, set_connections, wait_for

pytestmark = pytest.mark.slow  # trains two models, runs MLflow's migrations, starts servers (~1-2 min)

PREDICT = f"/v1/models/{FAMILY}/predict"


def _predict(stack: Stack, client: httpx.Client, rows: int = 1, request_id: str | None = None) -> httpx.Response:
    headers = {"x-request-id": request_id} if request_id else {}
    return client.post(stack.base + PREDICT, json={"instances": [instance(i) for i in range(rows)]}, headers=headers)


def test_ready_after_champion_and_promotion_switches_version_without_failures(stack: Stack) -> None:
    stack.start()
    assert httpx.get(stack.base + "/ready").status_code == 503  # nothing loaded yet, whatever the registry says
    wait_for(lambda: "no 'champion' alias" in " ".join(httpx.get(stack.base + "/ready").json()["reasons"]), 30,
             "the first poll to report the missing alias")
    assert httpx.get(stack.base + "/ready").status_code == 503
    assert httpx.get(stack.base + "/health").json()["models"][FAMILY]["loaded_version"] is None

    first, second = stack.versions
    stack.promote(first)
    wait_for(stack.ready, 60, "the first champion to load")
    with httpx.Client(timeout=10) as client:
        answer = _predict(stack, client, rows=3)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["version"] == first and body["model"] == FAMILY and len(body["predictions"]) == 3
        assert all(0.0 <= p["score"] <= 1.0 for p in body["predictions"])

    failures: list[str] = []
    seen: list[str] = []
    stop = threading.Event()

    def stream() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                response = _predict(stack, client)
                if response.status_code != 200:
                    failures.append(f"{response.status_code}: {response.text}")
                else:
                    seen.append(response.json()["version"])

    threads = [threading.Thread(target=stream) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: len(seen) >= 5, 30, "requests before the promotion")
        stack.promote(second)
        wait_for(lambda: second in seen[-3:], 60, "the promoted version to answer")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert seen[0] == first and seen[-1] == second
    assert seen.index(second) > 0 and first not in seen[seen.index(second) + 3:]  # no flapping back

    health = httpx.get(stack.base + "/health").json()
    assert health["models"][FAMILY] == {"loaded_version": second, "source": "registry",
                                        "registry_version": second, "error": None}
    metrics = httpx.get(stack.base + "/metrics").text
    assert f'storeml_model_reloads_total{{family="{FAMILY}",outcome="success"}} 2.0' in metrics
    assert f'storeml_predict_requests_total{{family="{FAMILY}",status="ok",version="{second}"}}' in metrics


def test_prediction_log_rows_arrive(stack: Stack) -> None:
    request_id = uuid.uuid4().hex
    with httpx.Client(timeout=10) as client:
        assert _predict(stack, client, rows=4, request_id=request_id).status_code == 200
    query = "select model_name, model_version, family, input ? 'frequency', confidence from mlops.v_predictions " \
            "where request_id = %s"
    wait_for(lambda: len(stack.storeml_query(query, (request_id,))) == 4, 30, "the logged rows")
    rows = stack.storeml_query(query, (request_id,))
    assert {r[:4] for r in rows} == {(FAMILY, stack.versions[1], FAMILY, True)}
    assert all(0.5 <= float(r[4]) <= 1.0 for r in rows)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"instances": [{"frequency": "many"}]}, "instances[0]"),
        ({"instances": "rows"}, "instances"),
        ({}, "body"),
        ({"instances": [], "customer_ids": [1]}, "body"),
        ({"customer_ids": ["x"]}, "customer_ids[0]"),
        ({"instances": [{"unknown": 1}]}, "instances[0]"),
    ],
)
def test_bad_payloads_get_422_naming_the_field(stack: Stack, payload: dict[str, object], field: str) -> None:
    response = httpx.post(stack.base + PREDICT, json=payload)
    assert response.status_code == 422, response.text
    assert response.json()["error"].startswith(field)


def test_wrong_types_nan_huge_batches_and_bodies_are_4xx(stack: Stack) -> None:
    good = instance()
    wrong = {**good, "frequency": "three"}
    response = httpx.post(stack.base + PREDICT, json={"instances": [good, wrong]})
    assert response.status_code == 422 and response.json()["error"] == "instances[1].frequency: must be a number or null"
    missing = {k: v for k, v in good.items() if k != "recency_days"}
    response = httpx.post(stack.base + PREDICT, json={"instances": [missing]})
    assert response.status_code == 422 and "instances[0].recency_days" in response.json()["error"]
    text = '{"instances": [' + ", ".join(
        f'"{k}": NaN' if k == "frequency" else f'"{k}": {v!r}'.replace("'", '"') for k, v in good.items()
    ).join("{}") + "]}"
    response = httpx.post(stack.base + PREDICT, content=text, headers={"content-type": "application/json"})
    assert response.status_code == 422 and "frequency" in response.json()["error"]
    response = httpx.post(stack.base + PREDICT, json={"instances": [good] * 100_000})
    assert response.status_code == 413 and response.json()["error"].startswith("body")
    response = httpx.post(stack.base + PREDICT, content=b"x" * 10_000_000, headers={"content-type": "application/json"})
    assert response.status_code == 413
    response = httpx.post(stack.base + PREDICT, json={"instances": [good] * 10_001})
    assert response.status_code in {413, 422}
    response = httpx.post(stack.base + "/v1/models/no_such_family/predict", json={"instances": [good]})
    assert response.status_code == 404 and "no_such_family" in response.json()["error"]


def test_customer_ids_and_analytics(stack: Stack) -> None:
    response = httpx.post(stack.base + PREDICT, json={"customer_ids": [1, 2]})
    assert response.status_code == 503 and response.headers["retry-after"]
    assert "features.customer_features is not materialized yet" in response.json()["error"]

    stack.write_features({1: [instance(1), instance(2)], 2: [instance(3)]})  # customer 1: two cutoffs
    response = httpx.post(stack.base + PREDICT, json={"customer_ids": [2, 1]})
    assert response.status_code == 200, response.text
    by_id = response.json()["predictions"]
    assert [p["customer_id"] for p in by_id] == [2, 1]
    inline = httpx.post(stack.base + PREDICT, json={"instances": [instance(3), instance(2)]}).json()["predictions"]
    assert [p["score"] for p in by_id] == pytest.approx([p["score"] for p in inline])  # the newest cutoff is used
    unknown = httpx.post(stack.base + PREDICT, json={"customer_ids": [1, 999]})
    assert unknown.status_code == 404 and unknown.json()["error"] == "customer_ids: no features for 999"
    for path in ("/v1/products", "/v1/analytics/top-products", "/v1/rules?min_lift=1.5&limit=5"):
        answer = httpx.get(stack.base + path)
        assert answer.status_code == 200 and answer.json() == [], (path, answer.text)
    assert httpx.get(stack.base + "/v1/rules?min_confidence=2").status_code == 422
    assert httpx.get(stack.base + "/v2/health/ready").json() == {"name": None, "ready": True}
    infer = httpx.post(stack.base + f"/v2/models/{FAMILY}/infer", json={"inputs": [
        {"name": k, "shape": [2], "datatype": "FP64" if isinstance(v, float) else "BYTES", "data": [v, v]}
        for k, v in instance().items()
    ]})
    assert infer.status_code == 200, infer.text
    assert infer.json()["outputs"][0]["shape"] == [2] and infer.json()["model_version"] == stack.versions[1]


def test_database_outage_inline_predictions_keep_working_and_log_resumes(stack: Stack) -> None:
    set_connections(stack.server_url, stack.storeml_db, False)
    outage_id = uuid.uuid4().hex
    try:
        with httpx.Client(timeout=10) as client:
            for _ in range(8):
                answer = _predict(stack, client, rows=10, request_id=outage_id)
                assert answer.status_code == 200, answer.text
            by_id = client.post(stack.base + PREDICT, json={"customer_ids": [1]})
            assert by_id.status_code == 503 and by_id.headers["retry-after"]
            assert "unavailable" in by_id.json()["error"]
            health = client.get(stack.base + "/health")
            assert health.status_code == 200
            wait_for(lambda: client.get(stack.base + "/health").json()["prediction_log"]["dropped"] > 0, 30,
                     "dropped log rows to be counted")
            assert "storeml_prediction_log_dropped" in client.get(stack.base + "/metrics").text
    finally:
        set_connections(stack.server_url, stack.storeml_db, True)
    after_id = uuid.uuid4().hex
    with httpx.Client(timeout=10) as client:
        wait_for(lambda: client.get(stack.base + "/health").json()["prediction_log"]["queue_depth"] == 0, 60,
                 "the queue to drain after recovery")
        assert client.get(stack.base + "/health").json()["prediction_log"]["last_error"] is None
        assert _predict(stack, client, rows=2, request_id=after_id).status_code == 200
    count = "select count(*) from mlops.v_predictions where request_id = %s"
    wait_for(lambda: stack.storeml_query(count, (after_id,))[0][0] == 2, 60, "the log to resume after recovery")
    held = stack.storeml_query(count, (outage_id,))[0][0]
    assert 0 < int(held) < 80  # type: ignore[call-overload]  # queued during the outage: written; beyond the queue: dropped


def test_restart_with_postgres_down_serves_the_cached_champion(stack: Stack) -> None:
    stack.stop()
    set_connections(stack.server_url, stack.storeml_db, False)
    set_connections(stack.server_url, stack.mlflow_db, False)
    try:
        stack.start()
        wait_for(stack.ready, 30, "readiness from the cache")
        health = httpx.get(stack.base + "/health").json()
        assert health["models"][FAMILY]["source"] == "cache"
        assert health["models"][FAMILY]["loaded_version"] == stack.versions[1]
        wait_for(lambda: httpx.get(stack.base + "/health").json()["registry_error"] is not None, 30,
                 "the registry outage to be reported")
        with httpx.Client(timeout=10) as client:
            assert _predict(stack, client).json()["version"] == stack.versions[1]
    finally:
        set_connections(stack.server_url, stack.storeml_db, True)
        set_connections(stack.server_url, stack.mlflow_db, True)
        stack.stop()


def test_bearer_token_guards_the_predict_paths_and_never_shows(stack: Stack) -> None:
    token = f"tok-{uuid.uuid4().hex}"
    stack.env["STOREML_SERVE_TOKEN"] = token
    try:
        stack.start()
        wait_for(stack.ready, 30, "readiness")
        body = {"instances": [instance()]}
        refused = httpx.post(stack.base + PREDICT, json=body)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        wrong = httpx.post(stack.base + PREDICT, json=body, headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = httpx.post(stack.base + PREDICT, json=body, headers={"authorization": f"Bearer {token}"})
        assert right.status_code == 200, right.text
        assert httpx.get(stack.base + "/health").status_code == 200  # liveness stays open
        exposed = [httpx.get(stack.base + p).text for p in ("/health", "/metrics", "/openapi.json")]
    finally:
        stack.stop()
        del stack.env["STOREML_SERVE_TOKEN"]
    logs = "".join(path.read_text() for path in stack.home.glob("serve-*.log"))
    assert not any(token in text for text in [*exposed, logs])
