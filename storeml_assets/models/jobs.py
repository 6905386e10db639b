"""The retraining job: features -> candidate model -> promotion decision."""

import dagster as dg

from storeml_assets.models.assets import FEATURES_GROUP, MODELS_GROUP, PROMOTION_GROUP

RETRAINING_JOB_NAME = "retraining_job"
RETRAINING_TAGS = {"storeml/job": "retraining"}

retraining_job = dg.define_asset_job(
    RETRAINING_JOB_NAME,
    selection=dg.AssetSelection.groups(FEATURES_GROUP, MODELS_GROUP, PROMOTION_GROUP),
    tags=RETRAINING_TAGS,
    description="Rebuild customer features and the training set, train a candidate, and decide its promotion.",
)
