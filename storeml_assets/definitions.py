"""The one `Definitions` of the storeml code location: merges the domains' definitions, nothing more."""

import dagster as dg

from storeml_assets.bundles import definitions as bundles
from storeml_assets.features import definitions as features
from storeml_assets.lifecycle.assets import build_family_defs
from storeml_assets.lifecycle.registry import GENERIC_FAMILIES
from storeml_assets.models import definitions as models
from storeml_assets.monitoring import definitions as monitoring
from storeml_assets.promotion import definitions as promotion
from storeml_assets.resources import definitions as resources
from storeml_assets.settings import get_settings
from storeml_assets.sources import definitions as sources
from storeml_assets.synthetic import definitions as synthetic
from storeml_assets.warehouse import definitions as warehouse


def build_definitions() -> dg.Definitions:
    simulated = get_settings().source_mode == "synthetic"
    return dg.Definitions.merge(
        resources.defs,
        *([synthetic.defs] if simulated else []),
        sources.build_defs(synthetic=simulated),
        warehouse.defs,
        bundles.defs,
        features.defs,
        models.defs,
        promotion.defs,
        monitoring.defs,
        *(build_family_defs(family) for family in GENERIC_FAMILIES),
    )


defs = build_definitions()
