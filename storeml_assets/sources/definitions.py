"""The sources domain's definitions: one extract asset per storefront table, their checks, and the
resource that locates the storefront's databases."""

import dagster as dg

from storeml_assets.keys import STOREFRONT_KEY
from storeml_assets.sources.assets import build_source_assets
from storeml_assets.sources.checks import build_source_checks
from storeml_assets.sources.quality import build_quality_checks
from storeml_assets.sources.resources import StorefrontSources


def build_defs(*, synthetic: bool) -> dg.Definitions:
    """The source assets; with ``synthetic``, downstream of the simulated storefront."""
    return dg.Definitions(
        assets=build_source_assets(upstream=[STOREFRONT_KEY] if synthetic else None),
        asset_checks=[*build_source_checks(), *build_quality_checks()],
        resources={"sources": StorefrontSources()},
    )
