"""The main command, end to end: `storeml demo --scale tiny` on fresh databases."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest


def _scalar(url: str, query: str) -> object:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(query)
        row = cur.fetchone()
    conn.close()
    return row[0] if row else None


@pytest.mark.slow
def test_demo_materializes_the_whole_graph(isolated_env: dict[str, str], tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("storeml")
    env = {**os.environ, "STOREML_HOME": str(tmp_path / "home")}
    result = subprocess.run(
        [str(exe), "demo", "--scale", "tiny"], capture_output=True, text=True, env=env, timeout=1500
    )
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    assert "wall time per stage" in result.stdout
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
