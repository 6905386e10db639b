"""Schedules: daily ingestion, daily monitoring, weekly retraining (times in UTC).

- ``daily_dimensions_schedule`` (00:10): ``dimensions_job`` (:mod:`storeml_assets.jobs`): the
  unpartitioned source tables and the customer/product/calendar dimensions, so that the day's facts
  find their customers and products.
- ``daily_ingestion_schedule`` (00:30): ``events_job`` for the newest complete day's partition
  (yesterday in UTC) of the event source tables and the warehouse facts built from them.
- ``daily_monitoring_schedule`` (02:00): ``monitoring_job`` (:data:`storeml_assets.keys.MONITORING_JOB_NAME`,
  defined here) materializes ``monitoring/feature_drift`` (drift and coverage metrics).
- ``weekly_retraining_schedule`` (Monday 03:00): ``retraining_job``.

Each runs by default when the daemon runs, unless ``STOREML_AUTOMATION`` is off.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg

from storeml_assets.jobs import DIMENSIONS_JOB, EVENTS_JOB
from storeml_assets.keys import FEATURE_DRIFT_KEY, MONITORING_JOB_NAME, RETRAINING_JOB_NAME
from storeml_assets.partitions import DAILY_PARTITIONS
from storeml_assets.settings import get_settings

TIMEZONE = "UTC"

MONITORING_JOB = dg.define_asset_job(
    MONITORING_JOB_NAME,
    selection=dg.AssetSelection.assets(FEATURE_DRIFT_KEY),
    description="Measure feature drift and the champion's coverage into the mlops monitoring metrics.",
    tags={"storeml/job": "monitoring"},
)


def _status() -> dg.DefaultScheduleStatus:
    return dg.DefaultScheduleStatus.RUNNING if get_settings().automation_enabled else dg.DefaultScheduleStatus.STOPPED


def newest_complete_partition(scheduled_time: datetime | None) -> str | None:
    """The daily partition of the UTC day before ``scheduled_time`` (now if None), if it exists yet."""
    moment = scheduled_time or datetime.now(UTC)
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    day = (moment - timedelta(days=1)).strftime("%Y-%m-%d")
    return day if day >= DAILY_PARTITIONS.start.strftime("%Y-%m-%d") else None


def build_schedules(default_status: dg.DefaultScheduleStatus | None = None) -> list[dg.ScheduleDefinition]:
    status = default_status or _status()

    @dg.schedule(
        name="daily_ingestion_schedule",
        job_name=EVENTS_JOB,
        cron_schedule="30 0 * * *",
        execution_timezone=TIMEZONE,
        default_status=status,
        description="Ingest yesterday's partition of the event source tables and warehouse facts.",
    )
    def daily_ingestion_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        partition = newest_complete_partition(context.scheduled_execution_time)
        if partition is None:
            return dg.SkipReason(f"no complete daily partition yet (partitions start {DAILY_PARTITIONS.start:%Y-%m-%d})")
        return dg.RunRequest(run_key=partition, partition_key=partition, tags={"storeml/schedule": "daily_ingestion"})

    dimensions = dg.ScheduleDefinition(
        name="daily_dimensions_schedule",
        job_name=DIMENSIONS_JOB,
        cron_schedule="10 0 * * *",
        execution_timezone=TIMEZONE,
        default_status=status,
        description="Refresh the unpartitioned source tables and the warehouse dimensions.",
        tags={"storeml/schedule": "daily_dimensions"},
    )
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
    return [dimensions, daily_ingestion_schedule, monitoring, retraining]


SCHEDULES = build_schedules()
JOBS = [MONITORING_JOB]

__all__ = ["JOBS", "MONITORING_JOB_NAME", "SCHEDULES", "build_schedules", "newest_complete_partition"]
