"""Schemathesis against the real server's OpenAPI schema: whatever the generated request, no 5xx.

The server runs as a uvicorn process on loopback with a loaded champion and materialized customer
features, so the only 503s left are outages, which this module does not cause. Bounded: a few
examples per operation (well under a minute).
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from storeml_assets_tests.serving.conftest import Stack, instance, wait_for

pytestmark = pytest.mark.slow  # trains two models, runs MLflow's migrations, starts a server (~1 min)

MAX_EXAMPLES = 15


@pytest.fixture(scope="module")
def api_schema(stack: Stack) -> schemathesis.BaseSchema:
    stack.promote(stack.versions[0])
    stack.write_features({1: [instance(1)], 2: [instance(2)]})
    stack.start()
    wait_for(stack.ready, 60, "the champion to load")
    return schemathesis.openapi.from_url(stack.base + "/openapi.json")


def test_no_generated_request_gets_a_5xx(api_schema: schemathesis.BaseSchema) -> None:
    """Every operation of the schema, a bounded number of generated requests each (positive and negative)."""
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10, [op.label for op in operations]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case: schemathesis.Case) -> None:
            response = case.call(timeout=30)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}")

        call()
    assert failures == []


def test_schema_lists_the_predict_and_health_paths(api_schema: schemathesis.BaseSchema, stack: Stack) -> None:
    paths = httpx.get(stack.base + "/openapi.json").json()["paths"]
    for path in ("/health", "/ready", "/v1/models/{family}/predict", "/v2/models/{name}/infer"):
        assert path in paths, path
