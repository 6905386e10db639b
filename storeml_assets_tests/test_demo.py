"""The main command, end to end: `storeml demo --scale tiny` on fresh databases, at 80 columns.

One demo run serves both what it stores (the whole graph, recorded in the Dagster instance) and what a
person reads (storeml's own lines only: no library chatter, nothing cut, the library logs in the file)."""

from __future__ import annotations

from pathlib import Path

import psycopg2
import pytest

from storeml_assets.console import LOG_FILE_NAME
from storeml_assets.settings import DATABASE_URL_ENV
from storeml_assets_tests.cli.invoke import run_subprocess


def _scalar(url: str, query: str) -> object:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(query)
        row = cur.fetchone()
    conn.close()
    return row[0] if row else None


@pytest.mark.slow
def test_demo_materializes_the_whole_graph(isolated_env: dict[str, str], tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {DATABASE_URL_ENV[db]: url for db, url in isolated_env.items()} | {"STOREML_HOME": str(home)}
    result = run_subprocess(["demo", "--scale", "tiny"], env, timeout=1500)
    assert result.code == 0, result.output[-3000:]
    assert "wall time per stage" in result.stdout

    # what a person reads: storeml's lines only, in 80 columns, nothing cut; the libraries' lines in the log file
    assert result.stderr == ""
    for chatter in ("mlflow", "alembic", "Successfully registered model", "Created version", "INFO", "DEBUG"):
        assert chatter not in result.stdout, chatter
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert "…" not in result.stdout
    logged = (home / "logs" / LOG_FILE_NAME).read_text()
    assert "Successfully registered model 'purchase_propensity'." in logged

    storeml = isolated_env["storeml"]
    assert _scalar(storeml, "select count(*) from raw.users") == 500
    assert _scalar(storeml, "select count(*) from raw.orders") == _scalar(
        isolated_env["storefront_db"], "select count(*) from orders"
    )
    assert _scalar(storeml, "select count(*) from warehouse.bundle_rules where lift >= 2") > 0
    # every sale line belongs to a warehouse transaction, and amounts add up to the cent
    assert (
        _scalar(
            storeml,
            "select count(*) from warehouse.transactions t join (select transaction_id, sum(line_total) s "
            "from warehouse.sales group by 1) x using (transaction_id) where t.transaction_amount <> x.s",
        )
        == 0
    )
    # the runs were recorded in the Postgres-backed Dagster instance
    assert _scalar(isolated_env["dagster"], "select count(*) from runs where status = 'SUCCESS'") >= 4
