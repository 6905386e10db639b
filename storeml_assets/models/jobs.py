"""The retraining job of a model family: its features and training set -> candidate -> promotion decision."""

from typing import Any

import dagster as dg

from storeml_assets.lifecycle.family import ModelFamily

RETRAINING_TAGS = {"storeml/job": "retraining"}


def build_retraining_job(family: ModelFamily) -> Any:
    """The job the family's retraining sensor and schedule launch."""
    return dg.define_asset_job(
        family.job_name,
        selection=dg.AssetSelection.assets(family.features_key, family.training_set_key, family.model_key,
                                           family.promotion_key),
        tags={**RETRAINING_TAGS, "storeml/model": family.name},
        description=f"Rebuild customer features and the training set, train a {family.name} candidate, and decide "
        "its promotion.",
    )
