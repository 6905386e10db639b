"""Dagster's GraphQL API as an outside client uses it: launch a job run, poll it, read metadata."""

from __future__ import annotations

import psycopg2
import pytest
from psycopg2 import sql

from storeml_assets_tests.ui.server import DevServer, wait_for_run

LATEST_MATERIALIZATION = """
query LatestMaterialization($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) {
    __typename
    ... on Asset {
      assetMaterializations(limit: 1) {
        runId
        metadataEntries {
          label
          ... on IntMetadataEntry { intValue }
        }
      }
    }
  }
}
"""

RUN_JOB = """
query Run($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { jobName status assetSelection { path } } }
}
"""


def _table_rows(db_url: str, schema: str, table: str) -> int:
    conn = psycopg2.connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("select count(*) from {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            )
            return cur.fetchone()[0]
    finally:
        conn.close()


@pytest.mark.slow
def test_launch_a_job_run_and_read_its_materialization_metadata(storefront: DevServer) -> None:
    client = storefront.client()
    run_id = client.submit_job_execution(
        "dimensions_job",
        repository_location_name=storefront.location,
        asset_selection=[["raw", "users"], ["raw", "products"]],
        tags={"storeml/test": "graphql"},
    )
    status = wait_for_run(client, run_id)
    assert status == "SUCCESS", f"run {run_id} ended {status}:\n{storefront.log_tail()}"

    run = client._execute(RUN_JOB, {"runId": run_id})["runOrError"]
    assert run["jobName"] == "dimensions_job"
    assert sorted(key["path"] for key in run["assetSelection"]) == [["raw", "products"], ["raw", "users"]]

    for table in ("users", "products"):
        asset = client._execute(LATEST_MATERIALIZATION, {"key": {"path": ["raw", table]}})["assetOrError"]
        assert asset["__typename"] == "Asset"
        (latest,) = asset["assetMaterializations"]
        assert latest["runId"] == run_id
        metadata = {entry["label"]: entry.get("intValue") for entry in latest["metadataEntries"]}
        rows = _table_rows(storefront.env["STOREML_DB_URL"], "raw", table)
        assert rows > 0
        assert metadata["dagster/row_count"] == rows
