"""The synthetic domain's definitions: the simulated storefront and the job that simulates it."""

import dagster as dg

from storeml_assets.keys import SIMULATE_JOB, SYNTHETIC_GROUP
from storeml_assets.synthetic.assets import SYNTHETIC_ASSETS

simulate_job = dg.define_asset_job(
    SIMULATE_JOB,
    selection=dg.AssetSelection.groups(SYNTHETIC_GROUP),
    description="Simulate a storefront history into the source databases.",
    tags={"storeml/job": "simulate"},
)

defs = dg.Definitions(assets=SYNTHETIC_ASSETS, jobs=[simulate_job])
