"""The lifecycle tests reuse the model tests' tiny simulated storefront and MLflow fixtures."""

from storeml_assets_tests.models.conftest import storefront, tracking

__all__ = ["storefront", "tracking"]
