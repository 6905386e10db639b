"""The bundles domain's definitions: the association rules."""

import dagster as dg

from storeml_assets.bundles.assets import BUNDLE_ASSETS

defs = dg.Definitions(assets=BUNDLE_ASSETS)
