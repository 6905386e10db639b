"""The daily ingestion schedules (times in UTC).

- ``daily_dimensions_schedule`` (00:10): ``dimensions_job``: the unpartitioned source tables and the
  customer/product/calendar dimensions, so that the day's facts find their customers and products.
- ``daily_ingestion_schedule`` (00:30): ``events_job`` for the newest complete day's partition
  (yesterday in UTC) of the event source tables and the warehouse facts built from them.

Each runs by default when the daemon runs, unless ``STOREML_AUTOMATION`` is off.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg

from storeml_assets.automation import TIMEZONE, default_schedule_status
from storeml_assets.keys import DIMENSIONS_JOB, EVENTS_JOB
from storeml_assets.partitions import DAILY_PARTITIONS


def newest_complete_partition(scheduled_time: datetime | None) -> str | None:
    """The daily partition of the UTC day before ``scheduled_time`` (now if None), if it exists yet."""
    moment = scheduled_time or datetime.now(UTC)
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    day = (moment - timedelta(days=1)).strftime("%Y-%m-%d")
    return day if day >= DAILY_PARTITIONS.start.strftime("%Y-%m-%d") else None


def build_schedules(default_status: dg.DefaultScheduleStatus | None = None) -> list[dg.ScheduleDefinition]:
    status = default_status or default_schedule_status()

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
    return [dimensions, daily_ingestion_schedule]
