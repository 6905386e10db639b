"""`storeml check` verdicts when a check step fails: its own checks show its own error; checks
skipped because of it say "not run: upstream X failed" instead of repeating its error."""

from __future__ import annotations

import dagster as dg

from storeml_assets.cli.check import ERROR, NOT_RUN, PASSED, run_checks


def _defs() -> dg.Definitions:
    orders = dg.AssetSpec(dg.AssetKey(["raw", "orders"]))
    sales = dg.AssetSpec(dg.AssetKey(["warehouse", "sales"]), deps=[orders.key])

    @dg.multi_asset_check(
        specs=[dg.AssetCheckSpec("min_rows", asset=orders.key, blocking=True)], name="orders_checks", can_subset=True
    )
    def orders_checks(context):
        raise RuntimeError("relation raw.orders does not exist")

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec("primary_key", asset=sales.key, blocking=True, additional_deps=[orders.key]),
            dg.AssetCheckSpec("references", asset=sales.key),
        ],
        name="sales_checks",
        can_subset=True,
    )
    def sales_checks(context):
        for name in ("primary_key", "references"):
            yield dg.AssetCheckResult(check_name=name, asset_key=sales.key, passed=True)

    @dg.asset_check(asset=orders.key, name="fresh")
    def fresh() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=True)

    return dg.Definitions(assets=[orders, sales], asset_checks=[orders_checks, sales_checks, fresh])


def test_a_check_skipped_by_an_upstream_failure_is_not_run_not_error() -> None:
    with dg.instance_for_test() as instance:
        verdicts = {(v.asset, v.check): v for v in run_checks(_defs(), instance=instance)}

    failed = verdicts[("raw/orders", "min_rows")]
    assert (failed.status, failed.description) == (ERROR, "RuntimeError: relation raw.orders does not exist")
    assert failed.blocks
    for name in ("primary_key", "references"):
        skipped = verdicts[("warehouse/sales", name)]
        assert skipped.status == NOT_RUN, skipped
        assert skipped.description == "not run: upstream orders_checks failed"
        assert not skipped.blocks  # the failure that caused it is what fails the build
    assert verdicts[("raw/orders", "fresh")].status == PASSED
