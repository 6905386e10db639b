"""Asset checks on the warehouse star schema: amounts add up and every key resolves.

The rules live in :mod:`storeml_assets.warehouse.integrity` (SQL over the whole tables);
each check reports the violation count and a sample of offending rows. All are blocking, so
bad facts stop downstream assets (top_products, bundles, features) in the same run.
"""

from collections.abc import Callable, Iterator

import dagster as dg
from sqlalchemy.engine import Connection

from storeml_assets.keys import CUSTOMERS_KEY, PRODUCTS_KEY, SALES_KEY, TIMEFRAME_KEY, TRANSACTIONS_KEY
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets.sources.integrity import use_check_memory
from storeml_assets.warehouse import integrity

LINE_TOTAL_CHECK = "line_total_is_quantity_x_unit_price"
AMOUNT_CHECK = "amount_is_sum_of_lines"
SALE_TRANSACTION_CHECK = "transaction_id_resolves"
SALE_PRODUCT_CHECK = "product_sku_resolves"
TRANSACTION_CUSTOMER_CHECK = "customer_id_resolves"
TRANSACTION_TIME_CHECK = "time_id_resolves"
PRIMARY_KEY_CHECK = "primary_key_unique_not_null"

Rule = Callable[[Connection], integrity.Violations]


def check_metadata(found: integrity.Violations) -> dict[str, dg.MetadataValue]:
    meta: dict[str, dg.MetadataValue] = {
        "violations": dg.MetadataValue.int(found.count),
        "checked_rows": dg.MetadataValue.int(found.checked_rows),
        "sample": dg.MetadataValue.json(found.sample),
        "summary": dg.MetadataValue.text(found.description),
    }
    if found.missing_table:
        meta["missing_table"] = dg.MetadataValue.text(found.missing_table)
    return meta


def _build(
    name: str, asset: dg.AssetKey, rules: list[tuple[dg.AssetCheckSpec, Rule]]
) -> dg.AssetChecksDefinition:
    by_name = {spec.name: (spec, rule) for spec, rule in rules}

    @dg.multi_asset_check(specs=[spec for spec, _ in rules], name=name, can_subset=True)
    def _checks(
        context: dg.AssetCheckExecutionContext, storeml_db: PostgresResource
    ) -> Iterator[dg.AssetCheckResult]:
        selected = {key.name for key in context.selected_asset_check_keys}
        with storeml_db.connect() as conn:
            use_check_memory(conn)
            for check_name, (spec, rule) in by_name.items():
                if check_name not in selected:
                    continue
                found = rule(conn)
                context.log.info(f"{asset.to_user_string()} {check_name}: {found.description}")
                yield dg.AssetCheckResult(
                    check_name=check_name,
                    asset_key=spec.asset_key,
                    passed=found.passed,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata=check_metadata(found),
                )

    return _checks


def _spec(
    name: str,
    asset: dg.AssetKey,
    description: str,
    deps: list[dg.AssetKey] | None = None,
    blocking: bool = True,
) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name, asset=asset, description=description, additional_deps=deps or [], blocking=blocking
    )


def _pk(asset: dg.AssetKey, key: str) -> tuple[dg.AssetCheckSpec, Rule]:
    table = asset.path[-1]
    return (
        _spec(PRIMARY_KEY_CHECK, asset, f"{key} is unique and not null in {table}."),
        lambda conn: integrity.check_primary_key(conn, table, key),
    )


sales_checks = _build(
    "warehouse_sales_checks",
    SALES_KEY,
    [
        (
            _spec(
                LINE_TOTAL_CHECK,
                SALES_KEY,
                "Every line's line_total equals quantity x unit_price to the cent.",
            ),
            integrity.check_line_totals,
        ),
        (
            _spec(
                SALE_TRANSACTION_CHECK,
                SALES_KEY,
                "Every sale's transaction_id is a transaction.",
                [TRANSACTIONS_KEY],
            ),
            lambda conn: integrity.check_reference(
                conn, "sales", "transaction_id", "transactions", "transaction_id", "sale_id"
            ),
        ),
        (
            _spec(SALE_PRODUCT_CHECK, SALES_KEY, "Every sale's product_sku is a product.", [PRODUCTS_KEY]),
            lambda conn: integrity.check_reference(
                conn, "sales", "product_sku", "products", "product_sku", "sale_id"
            ),
        ),
        _pk(SALES_KEY, "sale_id"),
    ],
)

transactions_checks = _build(
    "warehouse_transactions_checks",
    TRANSACTIONS_KEY,
    [
        (
            _spec(
                TRANSACTION_CUSTOMER_CHECK,
                TRANSACTIONS_KEY,
                "Every transaction's customer_id is a customer (null: a guest order).",
                [CUSTOMERS_KEY],
            ),
            lambda conn: integrity.check_reference(
                conn, "transactions", "customer_id", "customers", "customer_id", "transaction_id", nullable=True
            ),
        ),
        (
            _spec(
                TRANSACTION_TIME_CHECK,
                TRANSACTIONS_KEY,
                "Every transaction's time_id is a day of the timeframe.",
                [TIMEFRAME_KEY],
            ),
            lambda conn: integrity.check_reference(
                conn, "transactions", "time_id", "timeframe", "time_id", "transaction_id"
            ),
        ),
        _pk(TRANSACTIONS_KEY, "transaction_id"),
    ],
)

# Not blocking: it reads sales, which is downstream of transactions (a blocking check would make a cycle).
transaction_amount_check = _build(
    "warehouse_transaction_amount_check",
    TRANSACTIONS_KEY,
    [
        (
            _spec(
                AMOUNT_CHECK,
                TRANSACTIONS_KEY,
                "Every transaction_amount equals the sum of its sales lines' line_total, to the cent.",
                [SALES_KEY],
                blocking=False,
            ),
            integrity.check_transaction_amounts,
        ),
    ],
)

dimension_checks = [
    _build(f"warehouse_{key.path[-1]}_checks", key, [_pk(key, column)])
    for key, column in (
        (CUSTOMERS_KEY, "customer_id"),
        (PRODUCTS_KEY, "product_sku"),
        (TIMEFRAME_KEY, "time_id"),
    )
]

WAREHOUSE_CHECKS: list[dg.AssetChecksDefinition] = [
    sales_checks,
    transactions_checks,
    transaction_amount_check,
    *dimension_checks,
]
