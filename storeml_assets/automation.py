"""What every domain's schedules share: the timezone and whether they run by default."""

import dagster as dg

from storeml_assets.settings import get_settings

#: Cron times of every schedule are in UTC.
TIMEZONE = "UTC"


def default_schedule_status() -> dg.DefaultScheduleStatus:
    """RUNNING when the daemon should run the schedules (``STOREML_AUTOMATION``, default on), else STOPPED."""
    return dg.DefaultScheduleStatus.RUNNING if get_settings().automation_enabled else dg.DefaultScheduleStatus.STOPPED
