"""The warehouse domain's definitions: the star schema, its checks, the ingestion jobs and schedules."""

import dagster as dg

from storeml_assets.warehouse.assets import WAREHOUSE_ASSETS
from storeml_assets.warehouse.checks import WAREHOUSE_CHECKS
from storeml_assets.warehouse.jobs import WAREHOUSE_JOBS
from storeml_assets.warehouse.schedules import build_schedules

defs = dg.Definitions(
    assets=WAREHOUSE_ASSETS,
    asset_checks=WAREHOUSE_CHECKS,
    jobs=WAREHOUSE_JOBS,
    schedules=build_schedules(),
)
