"""Jobs over asset selections, shared by schedules, sensors, the CLI and the demo.

The storefront's data moves in four steps, each one job: simulate (synthetic mode only),
dimensions (unpartitioned source tables and the dimension tables built from them), events (a
range of daily partitions of the event tables and the facts built from them, in one run), and
marts (everything downstream that reads all partitions: top products, bundle rules).
"""

import dagster as dg

from storeml_assets.partitions import EVENTS_BEFORE_TAG
from storeml_assets.warehouse.assets import (
    CUSTOMERS_KEY,
    PRODUCTS_KEY,
    SALES_KEY,
    TIMEFRAME_KEY,
    TOP_PRODUCTS_KEY,
    TRANSACTIONS_KEY,
)

SIMULATE_JOB = "simulate_job"
DIMENSIONS_JOB = "dimensions_job"
EVENTS_JOB = "events_job"
MARTS_JOB = "marts_job"

__all__ = ["DIMENSIONS_JOB", "EVENTS_BEFORE_TAG", "EVENTS_JOB", "MARTS_JOB", "SIMULATE_JOB", "build_jobs"]

SOURCE_DIMENSIONS = dg.AssetSelection.groups("sources") & dg.AssetSelection.tag("storeml/kind", "dimension")
SOURCE_EVENTS = dg.AssetSelection.groups("sources") & dg.AssetSelection.tag("storeml/kind", "event")


def build_jobs(*, synthetic: bool) -> list:
    jobs = [
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
            selection=dg.AssetSelection.assets(TOP_PRODUCTS_KEY) | dg.AssetSelection.groups("bundles"),
            description="Rebuild what reads every partition: top products and bundle rules.",
            tags={"storeml/job": "marts"},
        ),
    ]
    if synthetic:
        jobs.append(
            dg.define_asset_job(
                SIMULATE_JOB,
                selection=dg.AssetSelection.groups("synthetic"),
                description="Simulate a storefront history into the source databases.",
                tags={"storeml/job": "simulate"},
            )
        )
    return jobs
