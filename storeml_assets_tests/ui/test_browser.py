"""The Dagster UI as a user meets it, driven in headless Chromium against a real `storeml dev`.

Uses Debian's chromium (`apt-get install chromium`) through Playwright's `executable_path`; no
browser is ever downloaded. Without chromium the test is skipped, unless STOREML_REQUIRE_BROWSER=1
(set by CI), where a missing browser is a failure. Screenshots of the asset graph and of an asset
page are written to docs/ (the README shows them); on failure the page is saved under tmp.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

from storeml_assets.definitions import build_definitions
from storeml_assets_tests.conftest import PROJECT_ROOT
from storeml_assets_tests.ui.server import DevServer, wait_for_run

playwright_api = pytest.importorskip("playwright.sync_api")

DOCS = PROJECT_ROOT / "docs"
TIMEOUT_MS = 90_000
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
RUNS = """
query { runsOrError(limit: 50) { ... on Runs { results { runId jobName assetSelection { path } } } } }
"""


def chromium_path() -> str | None:
    """STOREML_CHROMIUM, else Debian's chromium on PATH."""
    return os.environ.get("STOREML_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = chromium_path()
    if executable is None:
        if os.environ.get("STOREML_REQUIRE_BROWSER") == "1":
            pytest.fail(
                "chromium is not installed (apt-get install -y chromium) and STOREML_REQUIRE_BROWSER=1"
            )
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    with playwright_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser, tmp_path: Path) -> Iterator[object]:
    """A fresh page; afterwards (pass or fail) a screenshot of where it stood is kept in tmp."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        yield page
    finally:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(tmp_path / "last-page.png"), full_page=True)
        context.close()


def expected_groups() -> list[str]:
    """Every asset group the code location defines, computed from the Definitions themselves."""
    return sorted({spec.group_name for spec in build_definitions().resolve_all_asset_specs()})


def _run_ids(server: DevServer) -> set[str]:
    return {run["runId"] for run in server.graphql(RUNS)["runsOrError"]["results"]}


def _new_run_for(server: DevServer, before: set[str], key: list[str], timeout: float = 60.0) -> str:
    """The run launched after `before` was taken whose asset selection holds `key`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in server.graphql(RUNS)["runsOrError"]["results"]:
            if run["runId"] not in before and key in [asset["path"] for asset in run["assetSelection"] or []]:
                return run["runId"]
        time.sleep(1.0)
    raise TimeoutError(f"no run materializing {'/'.join(key)} appeared within {timeout:.0f}s")


def _row_count(db_url: str, schema: str, table: str) -> int:
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
@pytest.mark.browser
def test_asset_graph_materialize_by_click_and_asset_page(storefront: DevServer, page) -> None:
    expect = playwright_api.expect
    DOCS.mkdir(exist_ok=True)

    # The asset graph: one collapsed node per group, every group of the Definitions.
    groups = expected_groups()
    assert {"synthetic", "sources", "warehouse", "bundles"} <= set(groups)
    page.goto(f"{storefront.url}/asset-groups")
    nodes = page.locator("[class*='CollapsedGroupNode_collapsedGroupNodeBox']")
    expect(nodes).to_have_count(len(groups), timeout=TIMEOUT_MS)
    for group in groups:
        expect(nodes.filter(has=page.get_by_text(group, exact=True))).to_have_count(1)
    page.screenshot(path=str(DOCS / "asset-graph.png"))

    # Materialize raw/users by clicking on its page; the run goes through the queue and succeeds.
    before = _run_ids(storefront)
    page.goto(f"{storefront.url}/assets/raw/users")
    materialize = page.locator("button").filter(has=page.get_by_text("Materialize", exact=True))
    expect(materialize).to_be_enabled()
    materialize.click()
    expect(page.get_by_text("Launched run")).to_be_visible()
    run_id = _new_run_for(storefront, before, ["raw", "users"])
    status = wait_for_run(storefront.client(), run_id)
    assert status == "SUCCESS", f"run {run_id} ended {status}:\n{storefront.log_tail()}"

    # The asset page shows the row count recorded by that materialization (the table's real size).
    rows = _row_count(storefront.env["STOREML_DB_URL"], "raw", "users")
    assert rows > 0
    page.goto(f"{storefront.url}/assets/raw/users")
    label = page.get_by_text("Row count", exact=True)
    expect(label).to_be_visible()
    expect(label.locator("xpath=..")).to_have_text(f"Row count{rows:,}")
    expect(page.get_by_text("Customer accounts.", exact=False).first).to_be_visible()
    page.screenshot(path=str(DOCS / "asset-page.png"), full_page=True)

    # Its asset checks ran in the same run and passed.
    page.goto(f"{storefront.url}/assets/raw/users?view=checks")
    for check in ("min_rows", "primary_key_unique_not_null"):
        row = page.locator("span").filter(has=page.get_by_text(check, exact=True))
        expect(row.filter(has=page.get_by_text("Succeeded", exact=True)).first).to_be_visible()
    expect(page.get_by_text("Failed", exact=True)).to_have_count(0)
    expect(page.get_by_text("Evaluation result")).to_be_visible()
    expect(page.get_by_text("Passed", exact=True)).to_be_visible()
    page.screenshot(path=str(DOCS / "asset-checks.png"), full_page=True)
