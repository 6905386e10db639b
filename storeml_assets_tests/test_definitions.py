"""Guard against silent breakage of the asset graph: keys, groups, checks, jobs, resources."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg
import pytest

from storeml_assets.lifecycle.registry import GENERIC_FAMILIES
from storeml_assets.sources.catalog import CATALOG


@pytest.fixture
def defs(monkeypatch: pytest.MonkeyPatch) -> dg.Definitions:
    monkeypatch.delenv("STOREML_SOURCE_MODE", raising=False)
    from storeml_assets.definitions import build_definitions

    return build_definitions()


def _groups(defs: dg.Definitions) -> dict[str, set[str]]:
    graph = defs.resolve_asset_graph()
    out: dict[str, set[str]] = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        out.setdefault(node.group_name or "", set()).add(key.to_user_string())
    return out


def test_every_source_table_is_an_asset_in_raw(defs: dg.Definitions) -> None:
    groups = _groups(defs)
    assert groups["sources"] == {f"raw/{name}" for name in CATALOG}
    graph = defs.resolve_asset_graph()
    partitioned = {t.name for t in CATALOG.values() if t.partitioned}
    assert partitioned == {"orders", "order_items", "transactions", "user_interactions", "reviews", "promo_usage", "user_sessions"}
    for name in CATALOG:
        node = graph.get(dg.AssetKey(["raw", name]))
        assert (node.partitions_def is not None) == (name in partitioned), name


def test_groups_and_warehouse_keys(defs: dg.Definitions) -> None:
    groups = _groups(defs)
    assert set(groups) == {
        "synthetic", "sources", "warehouse", "bundles", "features", "models", "promotion", "monitoring"
    } | {family.group for family in GENERIC_FAMILIES}  # each family in its own terms has its own group
    assert groups["features"] == {"features/customer_features", "features/training_set"}
    assert groups["models"] == {"models/purchase_propensity"}
    assert groups["promotion"] == {"promotion/promotion_decision"}
    assert groups["monitoring"] == {"monitoring/feature_drift", "monitoring/served_predictions",
                                    *(f"monitoring/{family.name}_served" for family in GENERIC_FAMILIES)}
    assert groups["warehouse"] == {
        f"warehouse/{t}" for t in ("customers", "products", "timeframe", "transactions", "sales", "top_products")
    }
    assert groups["bundles"] == {"warehouse/bundle_rules"}
    assert "synthetic/storefront" in groups["synthetic"]


def test_checks_cover_every_source_table(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    for name in CATALOG:
        assert (f"raw/{name}", "min_rows") in checks
        assert (f"raw/{name}", "primary_key_unique_not_null") in checks
    assert ("raw/order_items", "ref_product_id_resolves") in checks
    assert ("raw/promo_usage", "ref_promo_code_id_resolves") in checks
    assert ("raw/reviews", "reviews_of_purchased_products") in checks
    assert ("warehouse/sales", "line_total_is_quantity_x_unit_price") in checks
    assert ("warehouse/transactions", "amount_is_sum_of_lines") in checks
    assert ("warehouse/transactions", "time_id_resolves") in checks


def test_jobs_and_resources(defs: dg.Definitions) -> None:
    for job in ("simulate_job", "dimensions_job", "events_job", "marts_job", "retraining_job", "monitoring_job"):
        assert defs.resolve_job_def(job) is not None
    assert set(defs.resources) == {"io_manager", "storeml_db", "sources", "mlflow"}
    assert {s.name for s in defs.schedules} == {
        "daily_dimensions_schedule", "daily_ingestion_schedule", "daily_monitoring_schedule", "weekly_retraining_schedule"
    } | {f"{family.name}_daily_schedule" for family in GENERIC_FAMILIES}
    assert [s.name for s in defs.sensors] == ["retraining_sensor",
                                              *(f"{family.name}_retraining_sensor" for family in GENERIC_FAMILIES)]


def test_external_mode_has_no_synthetic_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOREML_SOURCE_MODE", "external")
    from storeml_assets.definitions import build_definitions

    defs = build_definitions()
    groups = _groups(defs)
    assert "synthetic" not in groups
    assert groups["sources"] == {f"raw/{name}" for name in CATALOG}
    graph = defs.resolve_asset_graph()
    node = graph.get(dg.AssetKey(["raw", "orders"]))
    assert not any(parent.path[0] == "synthetic" for parent in node.parent_keys)


def test_dagster_definitions_validate(isolated_env: dict[str, str]) -> None:
    """`dagster definitions validate` accepts the code location (with the root dagster.yaml)."""
    from storeml_assets.db.migrate import migrate

    migrate(databases=["dagster"])
    exe = [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "storeml_assets.definitions"]
    env = {**os.environ, "STOREML_DAGSTER_DB_URL": isolated_env["dagster"]}
    result = subprocess.run(exe, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "passed validation" in result.stderr + result.stdout


def test_every_asset_has_description_owner_and_code_version(defs: dg.Definitions) -> None:
    """What the UI shows a person: a description, who owns it, and a code version (stale-code markers)."""
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, key
        assert node.owners, key
        assert node.code_version, key
