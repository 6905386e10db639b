"""The one `Definitions` of the storeml code location: assembles the domains, nothing more."""

import dagster as dg

from storeml_assets.bundles.assets import BUNDLE_ASSETS
from storeml_assets.io.postgres_io_manager import PostgresIOManager
from storeml_assets.jobs import build_jobs
from storeml_assets.ml.mlflow_resource import MlflowTracking
from storeml_assets.models.assets import MODEL_ASSETS
from storeml_assets.models.jobs import retraining_job
from storeml_assets.monitoring.assets import MONITORING_ASSETS
from storeml_assets.monitoring.schedules import JOBS as MONITORING_JOBS
from storeml_assets.monitoring.schedules import SCHEDULES
from storeml_assets.monitoring.sensors import SENSORS
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets.settings import get_settings
from storeml_assets.sources.assets import build_source_assets
from storeml_assets.sources.checks import build_source_checks
from storeml_assets.sources.resources import StorefrontSources
from storeml_assets.synthetic.assets import STOREFRONT_KEY, SYNTHETIC_ASSETS
from storeml_assets.warehouse.assets import WAREHOUSE_ASSETS
from storeml_assets.warehouse.checks import WAREHOUSE_CHECKS


def build_definitions() -> dg.Definitions:
    settings = get_settings()
    synthetic = settings.source_mode == "synthetic"
    assets: list[dg.AssetsDefinition] = []
    if synthetic:
        assets += SYNTHETIC_ASSETS
    assets += build_source_assets(upstream=[STOREFRONT_KEY] if synthetic else None)
    assets += WAREHOUSE_ASSETS + BUNDLE_ASSETS + MODEL_ASSETS + MONITORING_ASSETS
    return dg.Definitions(
        assets=assets,
        asset_checks=build_source_checks() + WAREHOUSE_CHECKS,
        jobs=[*build_jobs(synthetic=synthetic), retraining_job, *MONITORING_JOBS],
        schedules=SCHEDULES,
        sensors=SENSORS,
        resources={
            "io_manager": PostgresIOManager(database="storeml"),
            "storeml_db": PostgresResource(database="storeml"),
            "sources": StorefrontSources(),
            "mlflow": MlflowTracking(),
        },
    )


defs = build_definitions()
