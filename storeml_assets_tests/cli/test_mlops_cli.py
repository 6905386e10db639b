"""`storeml mlops decisions | timeline | monitoring` read the views of a migrated database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import typer
from typer.testing import CliRunner

from storeml_assets.cli.mlops import VIEWS, register
from storeml_assets_tests.monitoring.helpers import (
    execute,
    insert_decision,
    insert_metric,
    insert_model_version,
    migrate_storeml,
)

GATES = ["data_volume", "performance_floor", "no_regression", "calibration", "data_drift", "segment_consistency"]


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """storeml (test)."""

    register(app)
    return app


@pytest.fixture
def populated(isolated_env) -> str:
    url = migrate_storeml()
    now = datetime.now(UTC)
    insert_model_version(url, version="1", status="archived", created_at=now - timedelta(days=10),
                         promoted_at=now - timedelta(days=9), f1=0.55)
    execute(url, "update mlops.model_versions set archived_at = %s where model_version = '1'", (now - timedelta(days=2),))
    insert_model_version(url, version="2", status="production", created_at=now - timedelta(days=3),
                         promoted_at=now - timedelta(days=2), f1=0.61)
    insert_model_version(url, version="3", status="staging", created_at=now - timedelta(hours=1), f1=0.4)
    insert_decision(url, "promote", "run-2", dict.fromkeys(GATES, True))
    insert_decision(url, "reject", "run-3", {**dict.fromkeys(GATES, True), "performance_floor": False,
                                             "calibration": False})
    insert_metric(url, "drift", "drift_share", 0.1)
    insert_metric(url, "drift", "drift_share", 0.8)
    insert_metric(url, "coverage", "scored_share", 0.97)
    return url


def test_decisions_json_reads_the_view(populated: str) -> None:
    result = CliRunner().invoke(_app(), ["mlops", "decisions", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["action"] for r in rows] == ["reject", "promote"]  # newest first
    assert rows[0]["gates_passed"] == 4 and rows[0]["gates_total"] == 6
    assert rows[0]["failed_gates"] == ["calibration", "performance_floor"]
    assert rows[0]["model_version"] == "3" and rows[1]["status"] == "production"
    limited = json.loads(CliRunner().invoke(_app(), ["mlops", "decisions", "--json", "--limit", "1"]).stdout)
    assert len(limited) == 1


def test_timeline_and_monitoring(populated: str) -> None:
    timeline = json.loads(CliRunner().invoke(_app(), ["mlops", "timeline", "--json"]).stdout)
    assert [r["model_version"] for r in timeline] == ["1", "2", "3"]
    assert [r["is_production"] for r in timeline] == [False, True, False]
    assert timeline[0]["time_in_production"] == pytest.approx(7 * 86_400, rel=1e-3)  # a view-only column

    monitoring = json.loads(CliRunner().invoke(_app(), ["mlops", "monitoring", "--json"]).stdout)
    latest = {(r["metric_type"], r["metric_name"]): r["metric_value"] for r in monitoring}
    assert latest == {("coverage", "scored_share"): 0.97, ("drift", "drift_share"): 0.8}  # latest per metric only

    table = CliRunner().invoke(_app(), ["mlops", "monitoring"])
    assert table.exit_code == 0 and "v_recent_monitoring" in table.output and "0.8 " in table.output
    table = CliRunner().invoke(_app(), ["mlops", "decisions"])
    assert table.exit_code == 0 and "reject" in table.output


def test_views_not_tables() -> None:
    assert {view for view, _ in VIEWS.values()} == {"v_decision_history", "v_model_timeline", "v_recent_monitoring"}


def test_bad_limit_is_named(populated: str) -> None:
    result = CliRunner().invoke(_app(), ["mlops", "timeline", "--limit", "0"])
    assert result.exit_code != 0 and "--limit" in str(result.exception)
