"""`storeml check` on a migrated database with raw tables: exit 0 when fine, 1 when a blocking check fails."""

from __future__ import annotations

import json

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from storeml_assets.cli.check import FAILED, NOT_RUN, PASSED, register, run_checks
from storeml_assets.synthetic.simulator import SimulationConfig, simulate
from storeml_assets_tests.monitoring.helpers import migrate_storeml, raw_frames_from_simulation, write_raw

#: The source tables whose default minimum exceeds what a tiny hand-trimmed extract holds.
SMALL_MINIMUMS = "users=1,products=1,orders=1,user_interactions=1,reviews=1"


@pytest.fixture(scope="module")
def raw_frames() -> dict[str, pl.DataFrame]:
    return raw_frames_from_simulation(simulate(SimulationConfig(scale="tiny", seed=5)))


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """storeml (test)."""

    register(app)
    return app


def test_check_passes_on_good_raw_tables(isolated_env, raw_frames, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("STOREML_MIN_ROWS", raising=False)
    url = migrate_storeml()
    write_raw(url, raw_frames)
    result = CliRunner().invoke(_app(), ["check", "--json"])
    assert result.exit_code == 0, result.output
    verdicts = json.loads(result.stdout)
    by_key = {(v["asset"], v["check"]): v for v in verdicts}
    assert by_key[("raw/users", "min_rows")]["status"] == PASSED and by_key[("raw/users", "min_rows")]["blocking"]
    assert by_key[("raw/orders", "primary_key_unique_not_null")]["status"] == PASSED
    assert any(a.startswith("warehouse/") for a, _ in by_key)  # every group's checks ran
    assert not any(v["blocks"] for v in verdicts)
    # the storefront's databases were never created: the check that reads them is not run, saying why
    range_check = by_key[("raw/orders", "source_rows_inside_partitions")]
    assert range_check["status"] == NOT_RUN and "cannot reach database" in range_check["description"]

    table = CliRunner().invoke(_app(), ["check", "--group", "sources"])
    assert table.exit_code == 0, table.output
    assert "min_rows" in table.output and "no blocking check failed" in table.output
    assert "warehouse/" not in table.output


def test_blocking_failure_exits_non_zero(isolated_env, raw_frames, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("STOREML_MIN_ROWS", raising=False)
    url = migrate_storeml()
    frames = dict(raw_frames)
    frames["users"] = frames["users"].head(3)  # 3 users, the default minimum is 100
    write_raw(url, frames)
    result = CliRunner().invoke(_app(), ["check"])
    assert result.exit_code == 1, result.output
    assert "blocking check(s) failed" in result.output and "raw/users:min_rows" in result.output

    from storeml_assets.definitions import build_definitions

    verdicts = {(v.asset, v.check): v for v in run_checks(build_definitions(), groups=["sources"])}
    users = verdicts[("raw/users", "min_rows")]
    assert users.status == FAILED and users.blocks and users.metadata["row_count"] == 3
    # a lowered minimum (STOREML_MIN_ROWS) makes the same data pass
    monkeypatch.setenv("STOREML_MIN_ROWS", SMALL_MINIMUMS)
    assert CliRunner().invoke(_app(), ["check", "--group", "sources"]).exit_code == 0


def test_unknown_group_is_named(isolated_env, monkeypatch: pytest.MonkeyPatch) -> None:
    from storeml_assets.definitions import build_definitions

    with pytest.raises(ValueError, match="nope"):
        run_checks(build_definitions(), groups=["nope"])
