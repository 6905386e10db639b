"""Jobs over asset selections, shared by schedules, sensors and the CLI."""

import dagster as dg

from storeml_assets.partitions import DAILY_PARTITIONS

INGEST_JOB = "ingest_job"
SIMULATE_JOB = "simulate_job"


def build_jobs(*, synthetic: bool) -> list:
    jobs = [
        dg.define_asset_job(
            INGEST_JOB,
            selection=dg.AssetSelection.groups("sources"),
            partitions_def=DAILY_PARTITIONS,
            description="Extract the storefront source tables (a day's partitions) into raw, with checks.",
            tags={"storeml/job": "ingest"},
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
