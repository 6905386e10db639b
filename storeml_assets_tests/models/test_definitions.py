"""The model assets, their groups, and the retraining job, as Dagster sees them."""

import dagster as dg

from storeml_assets.checks_guard import upstream_blocking_checks
from storeml_assets.features.assets import FEATURE_ASSETS, RAW_DEPS, WAREHOUSE_DEPS
from storeml_assets.io import PostgresIOManager
from storeml_assets.keys import CUSTOMER_FEATURES_KEY, RETRAINING_JOB_NAME, TRAINING_SET_KEY
from storeml_assets.ml.mlflow_resource import MlflowTracking
from storeml_assets.models.candidate import build_candidate_asset
from storeml_assets.models.jobs import build_retraining_job
from storeml_assets.models.purchase_propensity import FAMILY
from storeml_assets.promotion.decision import PromotionConfig, build_promotion_asset
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets.sources.catalog import CATALOG, REQUIRED_TABLES
from storeml_assets.warehouse.checks import AMOUNT_CHECK, SALE_PRODUCT_CHECK, TRANSACTION_CUSTOMER_CHECK

PURCHASE_PROPENSITY_KEY = FAMILY.model_key
PROMOTION_DECISION_KEY = FAMILY.promotion_key
MODEL_ASSETS = [*FEATURE_ASSETS, build_candidate_asset(FAMILY), build_promotion_asset(FAMILY)]


def _defs() -> dg.Definitions:
    return dg.Definitions(
        assets=MODEL_ASSETS,
        jobs=[build_retraining_job(FAMILY)],
        resources={"io_manager": PostgresIOManager(), "storeml_db": PostgresResource(), "mlflow": MlflowTracking()},
    )


def test_keys_groups_and_lineage() -> None:
    graph = _defs().resolve_asset_graph()
    groups = {key: graph.get(key).group_name for key in graph.get_all_asset_keys() if graph.get(key).is_materializable}
    assert groups == {
        CUSTOMER_FEATURES_KEY: "features",
        TRAINING_SET_KEY: "features",
        PURCHASE_PROPENSITY_KEY: "models",
        PROMOTION_DECISION_KEY: "promotion",
    }
    assert set(RAW_DEPS) <= set(graph.get(CUSTOMER_FEATURES_KEY).parent_keys)
    assert set(WAREHOUSE_DEPS) <= set(graph.get(TRAINING_SET_KEY).parent_keys)
    assert graph.get(PURCHASE_PROPENSITY_KEY).parent_keys == {TRAINING_SET_KEY, CUSTOMER_FEATURES_KEY}
    assert PURCHASE_PROPENSITY_KEY in graph.get(PROMOTION_DECISION_KEY).parent_keys


def test_retraining_job_selects_the_three_groups() -> None:
    job = _defs().resolve_job_def(RETRAINING_JOB_NAME)
    assert job.tags["storeml/job"] == "retraining"
    assert set(job.asset_layer.executable_asset_keys) == {
        CUSTOMER_FEATURES_KEY, TRAINING_SET_KEY, PURCHASE_PROPENSITY_KEY, PROMOTION_DECISION_KEY
    }


def test_gate_config_fields_described() -> None:
    fields = PromotionConfig.model_fields  # type: ignore[attr-defined]
    assert all(field.description for field in fields.values())
    assert PromotionConfig(f1_floor=0.5).gate_config().f1_floor == 0.5  # type: ignore[call-arg,attr-defined]


def test_training_sees_every_blocking_check_upstream_in_the_graph() -> None:
    from storeml_assets.definitions import defs

    keys = upstream_blocking_checks(defs.get_repository_def(), PURCHASE_PROPENSITY_KEY)
    for raw in RAW_DEPS:  # the primary key of every source table the features read; min_rows of the required ones
        assert dg.AssetCheckKey(raw, "primary_key_unique_not_null") in keys
        assert (dg.AssetCheckKey(raw, "min_rows") in keys) == (raw.path[-1] in REQUIRED_TABLES)
    # the warehouse reads a few more (e.g. transactions); tables nothing upstream reads stay out
    assert dg.AssetCheckKey(dg.AssetKey(["raw", "transactions"]), "primary_key_unique_not_null") in keys
    assert dg.AssetCheckKey(dg.AssetKey(["raw", "promo_codes"]), "primary_key_unique_not_null") not in keys
    transactions = dg.AssetKey(["warehouse", "transactions"])
    assert dg.AssetCheckKey(transactions, TRANSACTION_CUSTOMER_CHECK) in keys
    assert dg.AssetCheckKey(transactions, AMOUNT_CHECK) not in keys  # not blocking
    assert dg.AssetCheckKey(dg.AssetKey(["warehouse", "sales"]), SALE_PRODUCT_CHECK) not in keys  # not upstream
    assert {k.asset_key for k in keys} <= {*RAW_DEPS, *WAREHOUSE_DEPS, *(dg.AssetKey(["raw", t]) for t in CATALOG)}
