"""What the lifecycle tests of every family share: the family's definitions with the test resources, the
metadata of a materialization, and rows of a query."""

from typing import Any

import dagster as dg
import sqlalchemy as sa

from storeml_assets.lifecycle.assets import build_family_defs
from storeml_assets.lifecycle.generic import GenericFamily
from storeml_assets.ml.mlflow_resource import MlflowTracking
from storeml_assets_tests.models.test_assets import _resources


def family_defs(family: GenericFamily, tracking: MlflowTracking) -> dg.Definitions:
    """The family's assets, job and schedule with the storeml resources (``tracking`` as MLflow)."""
    return dg.Definitions.merge(build_family_defs(family), dg.Definitions(resources=_resources(tracking)))


def family_job(family: GenericFamily, tracking: MlflowTracking) -> dg.JobDefinition:
    """The family's retraining job, resolved with the test resources."""
    return family_defs(family, tracking).resolve_job_def(family.job_name)


def materialized(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict[str, Any]:
    """Metadata values of ``key``'s last materialization in ``result`` (fails when there is none)."""
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    assert events, f"{key.to_user_string()} was not materialized"
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


def query_rows(url: str, query: str) -> list[Any]:
    """Every row of ``query`` on the database at ``url``."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(query)))
    finally:
        engine.dispose()
