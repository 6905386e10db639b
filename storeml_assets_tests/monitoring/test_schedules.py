"""Schedules produce the right run requests; the monitoring wiring loads into one Definitions."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from storeml_assets.keys import (
    DIMENSIONS_JOB,
    EVENTS_JOB,
    FEATURE_DRIFT_KEY,
    MONITORING_JOB_NAME,
    RETRAINING_JOB_NAME,
)
from storeml_assets.monitoring.schedules import build_schedules
from storeml_assets.warehouse.schedules import build_schedules as build_ingestion_schedules


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    """The code location's own Definitions (schedules, sensor, jobs and monitoring assets wired in)."""
    from storeml_assets.definitions import build_definitions

    return build_definitions()


def _tick(defs: dg.Definitions, name: str, when: datetime):
    schedule = defs.resolve_schedule_def(name)
    with dg.build_schedule_context(scheduled_execution_time=when, repository_def=defs.get_repository_def()) as context:
        return schedule, schedule.evaluate_tick(context)


def test_daily_ingestion_requests_yesterdays_partition(defs: dg.Definitions) -> None:
    schedule, data = _tick(defs, "daily_ingestion_schedule", datetime(2026, 11, 2, 0, 30, tzinfo=UTC))
    assert schedule.job_name == EVENTS_JOB and schedule.cron_schedule == "30 0 * * *"
    assert [(r.partition_key, r.run_key) for r in data.run_requests] == [("2026-11-01", "2026-11-01")]
    _, early = _tick(defs, "daily_ingestion_schedule", datetime(2026, 1, 1, 0, 30, tzinfo=UTC))  # partitions start
    assert early.run_requests == [] and "no complete daily partition" in early.skip_message


def test_other_schedules_target_their_jobs(defs: dg.Definitions) -> None:
    expected = {
        "daily_dimensions_schedule": (DIMENSIONS_JOB, "10 0 * * *"),
        "daily_monitoring_schedule": (MONITORING_JOB_NAME, "0 2 * * *"),
        "weekly_retraining_schedule": (RETRAINING_JOB_NAME, "0 3 * * 1"),
    }
    for name, (job, cron) in expected.items():
        schedule, data = _tick(defs, name, datetime(2026, 11, 2, 3, tzinfo=UTC))
        assert (schedule.job_name, schedule.cron_schedule) == (job, cron)
        assert len(data.run_requests) == 1
    assert defs.resolve_schedule_def("weekly_retraining_schedule").tags["storeml/trigger"] == "schedule"


@pytest.mark.parametrize(("automation", "status"), [("false", dg.DefaultScheduleStatus.STOPPED),
                                                    ("true", dg.DefaultScheduleStatus.RUNNING)])
def test_default_status_follows_the_setting(automation: str, status, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOREML_AUTOMATION", automation)
    assert {s.default_status for s in build_schedules() + build_ingestion_schedules()} == {status}


def test_wiring_loads_with_the_code_location(defs: dg.Definitions) -> None:
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_asset_graph().get(FEATURE_DRIFT_KEY).group_name == "monitoring"
    assert defs.resolve_sensor_def("retraining_sensor").job_name == RETRAINING_JOB_NAME
    assert {s.name for s in defs.schedules} >= {"daily_dimensions_schedule", "daily_ingestion_schedule",
                                                "daily_monitoring_schedule", "weekly_retraining_schedule"}
    assert defs.resolve_job_def(MONITORING_JOB_NAME) is not None


def test_feature_drift_declares_the_raw_tables_it_reads(defs: dg.Definitions) -> None:
    from storeml_assets.features.customer import RAW_COLUMNS
    from storeml_assets.keys import raw_key

    parents = defs.resolve_asset_graph().get(FEATURE_DRIFT_KEY).parent_keys
    assert parents == {raw_key(table) for table in RAW_COLUMNS}
