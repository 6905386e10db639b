"""One real `storeml dev` for the UI tests, with a simulated storefront in its source databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storeml_assets_tests.ui.server import DevServer, running_storeml_dev, wait_for_run

SIMULATE_TIMEOUT_S = 300.0


@pytest.fixture(scope="package")
def storeml_dev(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """`storeml dev` (webserver + daemon) on a free port, every database fresh, tiny scale, no automation."""
    workdir = tmp_path_factory.mktemp("storeml_dev")
    with running_storeml_dev(
        pg_server_url, workdir, STOREML_SCALE="tiny", STOREML_AUTOMATION="false"
    ) as server:
        yield server


@pytest.fixture(scope="package")
def storefront(storeml_dev: DevServer) -> DevServer:
    """The same server after `simulate_job` (launched through GraphQL and the run queue) succeeded."""
    client = storeml_dev.client()
    run_id = client.submit_job_execution("simulate_job", repository_location_name=storeml_dev.location)
    status = wait_for_run(client, run_id, SIMULATE_TIMEOUT_S)
    assert status == "SUCCESS", f"simulate_job run {run_id} ended {status}:\n{storeml_dev.log_tail()}"
    return storeml_dev
