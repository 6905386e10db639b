"""Names that domains share: asset keys, group, job, check, sensor and model names.

Domains talk to each other through this module and the ``storeml_assets.mlops`` data-access
package; a domain never imports another domain's assets, jobs, sensors or store modules to learn
a name.
"""

from __future__ import annotations

import dagster as dg

# --- features, models, promotion, monitoring ------------------------------------------------------


def raw_key(table: str) -> dg.AssetKey:
    """The asset of a source table extracted into ``raw`` (``raw/<table>``)."""
    return dg.AssetKey(["raw", table])


FEATURES_GROUP = "features"
MODELS_GROUP = "models"
PROMOTION_GROUP = "promotion"
MONITORING_GROUP = "monitoring"

CUSTOMER_FEATURES_KEY = dg.AssetKey(["features", "customer_features"])
TRAINING_SET_KEY = dg.AssetKey(["features", "training_set"])
FEATURE_DRIFT_KEY = dg.AssetKey(["monitoring", "feature_drift"])

#: The first model family (registered model name in MLflow and ``mlops``).
PURCHASE_PROPENSITY = "purchase_propensity"
#: Code version of the purchase-propensity training; a new one gives the sensor a reason to retrain.
PURCHASE_PROPENSITY_CODE_VERSION = "1"

RETRAINING_JOB_NAME = "retraining_job"
MONITORING_JOB_NAME = "monitoring_job"
RETRAINING_SENSOR_NAME = "retraining_sensor"


def model_key(family: str) -> dg.AssetKey:
    """The candidate-model asset of a model family (``models/<family>``)."""
    return dg.AssetKey(["models", family])


def promotion_key(family: str) -> dg.AssetKey:
    """The promotion-decision asset of a model family (``promotion/promotion_decision`` for the first family)."""
    return dg.AssetKey(["promotion", "promotion_decision" if family == PURCHASE_PROPENSITY else f"{family}_decision"])


# --- synthetic, sources, warehouse, bundles -------------------------------------------------------

SYNTHETIC_GROUP = "synthetic"
SOURCES_GROUP = "sources"
WAREHOUSE_GROUP = "warehouse"
BUNDLES_GROUP = "bundles"

#: The simulated storefront history (synthetic mode only): upstream of every source asset.
STOREFRONT_KEY = dg.AssetKey(["synthetic", "storefront"])
#: What the simulator planted, for tests and the demo to compare against.
GROUND_TRUTH_TABLES = ("planted_bundles", "customer_propensity", "drift_spec", "expected_demand", "customer_taste",
                       "product_appeal", "review_sentiment", "customer_personas", "simulation_runs")
GROUND_TRUTH_KEYS = {name: dg.AssetKey(["ground_truth", name]) for name in GROUND_TRUTH_TABLES}

RAW_SCHEMA = "raw"
WAREHOUSE_SCHEMA = "warehouse"


def warehouse_key(table: str) -> dg.AssetKey:
    """The asset of a warehouse table (``warehouse/<table>``)."""
    return dg.AssetKey([WAREHOUSE_SCHEMA, table])


CUSTOMERS_KEY = warehouse_key("customers")
PRODUCTS_KEY = warehouse_key("products")
TIMEFRAME_KEY = warehouse_key("timeframe")
TRANSACTIONS_KEY = warehouse_key("transactions")
SALES_KEY = warehouse_key("sales")
TOP_PRODUCTS_KEY = warehouse_key("top_products")
BUNDLE_RULES_KEY = warehouse_key("bundle_rules")

SIMULATE_JOB = "simulate_job"
DIMENSIONS_JOB = "dimensions_job"
EVENTS_JOB = "events_job"
MARTS_JOB = "marts_job"

#: Source-table checks (``raw/<table>``) that stop training when they fail.
MIN_ROWS_CHECK = "min_rows"
PRIMARY_KEY_CHECK = "primary_key_unique_not_null"
