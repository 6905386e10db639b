"""The monitoring domain's definitions: each model family's drift asset, served-prediction asset and
retraining sensor, the
monitoring job, and the daily and weekly schedules."""

from collections.abc import Sequence

import dagster as dg

from storeml_assets.lifecycle.family import ModelFamily
from storeml_assets.lifecycle.generic import GenericFamily
from storeml_assets.lifecycle.registry import FAMILIES, GENERIC_FAMILIES
from storeml_assets.monitoring.drift import build_drift_asset
from storeml_assets.monitoring.schedules import build_monitoring_job, build_schedules
from storeml_assets.monitoring.sensors import build_retraining_sensor
from storeml_assets.monitoring.served import build_generic_served_asset, build_served_asset


def build_defs(families: Sequence[ModelFamily] = FAMILIES, *, schedules: bool = True,
               generic: Sequence[GenericFamily] = ()) -> dg.Definitions:
    """Drift assets and sensors of ``families``; with ``schedules``, the monitoring job and the schedules too.
    Families in their own terms (``generic``) get a served-prediction asset and the same retraining sensor over
    their retraining job (their drift assets and jobs come with
    :func:`storeml_assets.lifecycle.assets.build_family_defs`); the monitoring job runs their drift and
    served-prediction assets too."""
    generic_keys = [key for family in generic for key in (family.drift_key, family.served_key)]
    return dg.Definitions(
        assets=[*(build_drift_asset(family) for family in families),
                *(build_served_asset(family) for family in families),
                *(build_generic_served_asset(family) for family in generic)],
        sensors=[*(build_retraining_sensor(family) for family in families),
                 *(build_retraining_sensor(family) for family in generic)],
        jobs=[build_monitoring_job(families, generic_keys)] if schedules else [],
        schedules=build_schedules(families=families) if schedules else [],
    )


defs = build_defs(generic=GENERIC_FAMILIES)
