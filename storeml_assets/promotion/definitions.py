"""The promotion domain's definitions: a promotion decision per registered model family."""

from collections.abc import Sequence

import dagster as dg

from storeml_assets.lifecycle.family import ModelFamily
from storeml_assets.lifecycle.registry import FAMILIES
from storeml_assets.promotion.decision import build_promotion_asset


def build_defs(families: Sequence[ModelFamily] = FAMILIES) -> dg.Definitions:
    return dg.Definitions(assets=[build_promotion_asset(family) for family in families])


defs = build_defs()
