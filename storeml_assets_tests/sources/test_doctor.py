"""`storeml doctor`: ready on a simulated storefront, one clear line for an unreachable database."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

from storeml_assets.cli import app
from storeml_assets.db.migrate import migrate
from storeml_assets.settings import Settings
from storeml_assets.sources.doctor import examine
from storeml_assets.synthetic.loader import load
from storeml_assets.synthetic.simulator import SimulationConfig, simulate


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_doctor_is_ready_on_a_simulated_storefront(isolated_env: dict[str, str]) -> None:
    settings = Settings.from_env()
    migrate(settings)
    empty = examine(settings)
    assert not empty.ready
    assert {r.table: r.rows for r in empty.readiness}["orders"] == 0

    load(simulate(SimulationConfig(scale="tiny", seed=3)), settings)
    report = examine(settings)
    assert report.ready, [(r.table, r.rows) for r in report.readiness]
    counts = {r.table: r.rows for r in report.readiness}
    assert counts["users"] == 500 and counts["orders"] is not None and counts["orders"] >= 500

    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "ready" in result.output and "purchase propensity" in result.output and "bundle rules" in result.output
    assert "skipped:" not in result.output  # the simulator fills every table every purpose needs


def test_doctor_names_an_unreachable_database_without_its_password(
    isolated_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate(Settings.from_env())
    port = _closed_port()
    monkeypatch.setenv("STOREML_PROMOTION_DB_URL", f"postgresql://svc:TopS3cret@127.0.0.1:{port}/promotion_db")
    report = examine(Settings.from_env())
    promo = next(db for db in report.databases if db.database == "promotion_db")
    assert promo.error is not None and f"127.0.0.1:{port}" in promo.error
    assert "TopS3cret" not in promo.error
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "TopS3cret" not in result.output
    assert "promotion_db" in result.output and f"127.0.0.1:{port}" in result.output
