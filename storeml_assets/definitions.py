"""The one `Definitions` of the storeml code location: assembles the domains, nothing more."""

import dagster as dg

from storeml_assets.bundles.assets import BUNDLE_ASSETS
from storeml_assets.features import definitions as features
from storeml_assets.io.postgres_io_manager import PostgresIOManager
from storeml_assets.jobs import build_jobs
from storeml_assets.ml.mlflow_resource import MlflowTracking
from storeml_assets.models import definitions as models
from storeml_assets.monitoring import definitions as monitoring
from storeml_assets.promotion import definitions as promotion
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
    assets += WAREHOUSE_ASSETS + BUNDLE_ASSETS
    base = dg.Definitions(
        assets=assets,
        asset_checks=build_source_checks() + WAREHOUSE_CHECKS,
        jobs=build_jobs(synthetic=synthetic),
        resources={
            "io_manager": PostgresIOManager(database="storeml"),
            "storeml_db": PostgresResource(database="storeml"),
            "sources": StorefrontSources(),
            "mlflow": MlflowTracking(),
        },
    )
    return dg.Definitions.merge(base, features.defs, models.defs, promotion.defs, monitoring.defs)


defs = build_definitions()
