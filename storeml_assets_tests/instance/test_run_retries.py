"""The root dagster.yaml's run retries, exercised by a real daemon: a run that fails once is retried.

`dagster dev` (webserver + daemon) runs on an instance made from the repository's dagster.yaml,
with its storage in a fresh Postgres database and a two-job probe code location.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storeml_assets_tests.ui.server import DevServer, dev_home, free_port, running_webserver, wait_for_run

LOCATION = "retry_probe"
PARENT_RUN_TAG = "dagster/parent_run_id"
RETRY_NUMBER_TAG = "dagster/retry_number"
WILL_RETRY_TAG = "dagster/will_retry"

RUNS = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    ... on Runs { results { runId status tags { key value } } }
  }
}
"""


def _runs(server: DevServer, **run_filter: object) -> list[dict]:
    results = server.graphql(RUNS, {"filter": run_filter})["runsOrError"]["results"]
    return [{**run, "tags": {tag["key"]: tag["value"] for tag in run["tags"]}} for run in results]


def _retry_of(server: DevServer, run_id: str, timeout: float = 180.0) -> dict:
    """The run the daemon launched to retry `run_id`, once it has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = _runs(server, tags=[{"key": PARENT_RUN_TAG, "value": run_id}])
        if children:
            (child,) = children
            if wait_for_run(server.client(), child["runId"], timeout) in {"SUCCESS", "FAILURE"}:
                return _runs(server, runIds=[child["runId"]])[0]
        time.sleep(1.0)
    raise TimeoutError(f"the daemon did not retry run {run_id} within {timeout:.0f}s:\n{server.log_tail()}")


@pytest.fixture
def probe_dev(tmp_path: Path, fresh_db: str) -> Iterator[DevServer]:
    """`dagster dev` on the root dagster.yaml (fresh storage database) serving the retry probe."""
    home, workspace = dev_home(tmp_path, "storeml_assets_tests.instance.retry_probe", LOCATION)
    env = dict(os.environ, DAGSTER_HOME=str(home), STOREML_DAGSTER_DB_URL=fresh_db)
    host, port = "127.0.0.1", free_port()
    dagster = str(Path(sys.executable).with_name("dagster"))
    args = [dagster, "dev", "-w", str(workspace), "-h", host, "-p", str(port)]
    with running_webserver(args, env, tmp_path / "dagster-dev.log", LOCATION, host, port) as server:
        yield server


@pytest.mark.slow
def test_a_run_that_fails_once_is_retried_once_by_the_daemon(probe_dev: DevServer, tmp_path: Path) -> None:
    client = probe_dev.client()
    marker = tmp_path / "first-attempt"
    flaky = client.submit_job_execution(
        "flaky_job", LOCATION, run_config={"ops": {"fail_once": {"config": {"marker": str(marker)}}}}
    )
    broken = client.submit_job_execution("broken_job", LOCATION)

    assert wait_for_run(client, flaky) == "FAILURE"
    assert marker.exists()
    (original,) = _runs(probe_dev, runIds=[flaky])
    assert original["tags"][WILL_RETRY_TAG] == "true"
    retry = _retry_of(probe_dev, flaky)
    assert retry["status"] == "SUCCESS"
    assert retry["tags"][RETRY_NUMBER_TAG] == "1"

    # max_retries: 1 — the retry of a run that keeps failing is the last attempt.
    assert wait_for_run(client, broken) == "FAILURE"
    last = _retry_of(probe_dev, broken)
    assert last["status"] == "FAILURE"
    assert last["tags"][RETRY_NUMBER_TAG] == "1"
    assert last["tags"][WILL_RETRY_TAG] == "false"
