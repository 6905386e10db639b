"""Schedules: daily monitoring, weekly retraining (times in UTC; the ingestion schedules are the
warehouse domain's, :mod:`storeml_assets.warehouse.schedules`).

- ``daily_monitoring_schedule`` (02:00): ``monitoring_job`` (:data:`storeml_assets.keys.MONITORING_JOB_NAME`,
  defined here) materializes ``monitoring/feature_drift`` (drift and coverage metrics).
- ``weekly_retraining_schedule`` (Monday 03:00): ``retraining_job``.

Each runs by default when the daemon runs, unless ``STOREML_AUTOMATION`` is off.
"""

import dagster as dg

from storeml_assets.automation import TIMEZONE, default_schedule_status
from storeml_assets.keys import FEATURE_DRIFT_KEY, MONITORING_JOB_NAME, RETRAINING_JOB_NAME

MONITORING_JOB = dg.define_asset_job(
    MONITORING_JOB_NAME,
    selection=dg.AssetSelection.assets(FEATURE_DRIFT_KEY),
    description="Measure feature drift and the champion's coverage into the mlops monitoring metrics.",
    tags={"storeml/job": "monitoring"},
)


def build_schedules(default_status: dg.DefaultScheduleStatus | None = None) -> list[dg.ScheduleDefinition]:
    status = default_status or default_schedule_status()
    monitoring = dg.ScheduleDefinition(
        name="daily_monitoring_schedule",
        job_name=MONITORING_JOB_NAME,
        cron_schedule="0 2 * * *",
        execution_timezone=TIMEZONE,
        default_status=status,
        description="Measure feature drift and champion coverage daily.",
        tags={"storeml/schedule": "daily_monitoring"},
    )
    retraining = dg.ScheduleDefinition(
        name="weekly_retraining_schedule",
        job_name=RETRAINING_JOB_NAME,
        cron_schedule="0 3 * * 1",
        execution_timezone=TIMEZONE,
        default_status=status,
        description="Retrain the propensity model weekly (promotion still needs all six gates).",
        tags={"storeml/schedule": "weekly_retraining", "storeml/trigger": "schedule"},
    )
    return [monitoring, retraining]


SCHEDULES = build_schedules()
JOBS = [MONITORING_JOB]

__all__ = ["JOBS", "SCHEDULES", "build_schedules"]
