"""The models domain's definitions: a candidate asset and a retraining job per registered model family."""

from collections.abc import Sequence

import dagster as dg

from storeml_assets.lifecycle.family import ModelFamily
from storeml_assets.lifecycle.registry import FAMILIES
from storeml_assets.models.candidate import build_candidate_asset
from storeml_assets.models.jobs import build_retraining_job


def build_defs(families: Sequence[ModelFamily] = FAMILIES) -> dg.Definitions:
    return dg.Definitions(
        assets=[build_candidate_asset(family) for family in families],
        jobs=[build_retraining_job(family) for family in families],
    )


defs = build_defs()
