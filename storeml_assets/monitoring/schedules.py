"""Schedules: daily monitoring, weekly retraining (times in UTC; the ingestion schedules are the
warehouse domain's, :mod:`storeml_assets.warehouse.schedules`).

- ``daily_monitoring_schedule`` (02:00): ``monitoring_job`` (:data:`storeml_assets.keys.MONITORING_JOB_NAME`,
  defined here) materializes every family's drift asset (``monitoring/feature_drift``: drift and
  coverage metrics) and every family's served-prediction asset (``monitoring/served_predictions``,
  ``monitoring/<family>_served``: the serving API's prediction log).
- ``weekly_retraining_schedule`` (Monday 03:00): ``retraining_job`` (each further model family: its
  own ``<family>_weekly_retraining_schedule`` over its retraining job).

Each runs by default when the daemon runs, unless ``STOREML_AUTOMATION`` is off.
"""

from collections.abc import Sequence
from typing import Any

import dagster as dg

from storeml_assets.automation import TIMEZONE, default_schedule_status
from storeml_assets.keys import MONITORING_JOB_NAME, PURCHASE_PROPENSITY
from storeml_assets.lifecycle.family import ModelFamily
from storeml_assets.lifecycle.registry import FAMILIES


def build_monitoring_job(families: Sequence[ModelFamily], generic_keys: Sequence[dg.AssetKey] = ()) -> Any:
    """The monitoring job: every family's drift asset and served-prediction asset, and the drift and
    served-prediction assets of the families in their own terms (``generic_keys``)."""
    return dg.define_asset_job(
        MONITORING_JOB_NAME,
        selection=dg.AssetSelection.assets(*(key for family in families for key in (family.drift_key,
                                                                                     family.served_key)),
                                           *generic_keys),
        description="Measure feature drift and the champion's coverage into the mlops monitoring metrics.",
        tags={"storeml/job": "monitoring"},
    )


def _weekly_retraining(family: ModelFamily, status: dg.DefaultScheduleStatus) -> dg.ScheduleDefinition:
    first = family.name == PURCHASE_PROPENSITY
    return dg.ScheduleDefinition(
        name="weekly_retraining_schedule" if first else f"{family.name}_weekly_retraining_schedule",
        job_name=family.job_name,
        cron_schedule="0 3 * * 1",
        execution_timezone=TIMEZONE,
        default_status=status,
        description=("Retrain the propensity model weekly" if first else f"Retrain {family.name} weekly")
        + " (promotion still needs all six gates).",
        tags={"storeml/schedule": "weekly_retraining", "storeml/trigger": "schedule"},
    )


def build_schedules(default_status: dg.DefaultScheduleStatus | None = None,
                    families: Sequence[ModelFamily] = FAMILIES) -> list[dg.ScheduleDefinition]:
    """The daily monitoring schedule and each family's weekly retraining schedule."""
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
    return [monitoring, *(_weekly_retraining(family, status) for family in families)]
