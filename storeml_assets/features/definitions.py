"""The features domain's definitions: the customer features and the training set."""

import dagster as dg

from storeml_assets.features.assets import FEATURE_ASSETS

defs = dg.Definitions(assets=FEATURE_ASSETS)
