"""The jobs that move the storefront's data into the warehouse, shared by schedules, the CLI and the demo.

The data moves in three steps after the simulator, each one job: dimensions (unpartitioned source
tables and the dimension tables built from them), events (a range of daily partitions of the
event tables and the facts built from them, in one run), and marts (everything downstream that
reads all partitions: top products, bundle rules).
"""

import dagster as dg

from storeml_assets.keys import (
    BUNDLES_GROUP,
    CUSTOMERS_KEY,
    DIMENSIONS_JOB,
    EVENTS_JOB,
    MARTS_JOB,
    PRODUCTS_KEY,
    SALES_KEY,
    SOURCES_GROUP,
    TIMEFRAME_KEY,
    TOP_PRODUCTS_KEY,
    TRANSACTIONS_KEY,
)

SOURCE_DIMENSIONS = dg.AssetSelection.groups(SOURCES_GROUP) & dg.AssetSelection.tag("storeml/kind", "dimension")
SOURCE_EVENTS = dg.AssetSelection.groups(SOURCES_GROUP) & dg.AssetSelection.tag("storeml/kind", "event")

WAREHOUSE_JOBS = [
    dg.define_asset_job(
        DIMENSIONS_JOB,
        selection=SOURCE_DIMENSIONS | dg.AssetSelection.assets(CUSTOMERS_KEY, PRODUCTS_KEY, TIMEFRAME_KEY),
        description="Extract the unpartitioned source tables and build the customer, product and calendar dimensions.",
        tags={"storeml/job": "dimensions"},
    ),
    dg.define_asset_job(
        EVENTS_JOB,
        selection=SOURCE_EVENTS | dg.AssetSelection.assets(TRANSACTIONS_KEY, SALES_KEY),
        description="Extract a day's (or a range's) event rows and build that slice of the sales facts.",
        tags={"storeml/job": "events"},
    ),
    dg.define_asset_job(
        MARTS_JOB,
        selection=dg.AssetSelection.assets(TOP_PRODUCTS_KEY) | dg.AssetSelection.groups(BUNDLES_GROUP),
        description="Rebuild what reads every partition: top products and bundle rules.",
        tags={"storeml/job": "marts"},
    ),
]
