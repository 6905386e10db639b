"""Asset checks on the extracted source tables: minimum rows (blocking), keys, references."""

import dagster as dg

from storeml_assets.resources.postgres import PostgresResource
from storeml_assets.sources import integrity
from storeml_assets.sources.assets import raw_key
from storeml_assets.sources.catalog import CATALOG, SourceTable, min_rows_for

MIN_ROWS_CHECK = "min_rows"
PRIMARY_KEY_CHECK = "primary_key_unique_not_null"
REVIEWS_PURCHASED_CHECK = "reviews_of_purchased_products"


def reference_check_name(column: str) -> str:
    return f"ref_{column}_resolves"


def _meta(result: integrity.IntegrityResult) -> dict[str, dg.MetadataValue]:
    meta: dict[str, dg.MetadataValue] = {}
    for key, value in result.figures.items():
        if isinstance(value, list):
            meta[key] = dg.MetadataValue.json(value)
        elif isinstance(value, int | float):
            meta[key] = dg.MetadataValue.int(value) if isinstance(value, int) else dg.MetadataValue.float(value)
        else:
            meta[key] = dg.MetadataValue.text(str(value))
    meta["summary"] = dg.MetadataValue.text(result.description)
    return meta


def build_table_checks(table: SourceTable) -> dg.AssetChecksDefinition:
    """All checks of one source table, evaluated together in one step."""
    key = raw_key(table.name)
    specs = [
        dg.AssetCheckSpec(
            MIN_ROWS_CHECK,
            asset=key,
            blocking=True,
            description=f"At least {min_rows_for(table):,} rows (blocking: downstream assets wait for it).",
        ),
        dg.AssetCheckSpec(
            PRIMARY_KEY_CHECK,
            asset=key,
            blocking=True,
            description=f"Primary key ({', '.join(table.primary_key)}) unique and not null.",
        ),
    ]
    for ref in table.references:
        specs.append(
            dg.AssetCheckSpec(
                reference_check_name(ref.column),
                asset=key,
                additional_deps=[raw_key(ref.target_table)] if ref.target_table != table.name else [],
                description=f"Every {table.name}.{ref.column} resolves to {ref.target_table}.{ref.target_column}.",
            )
        )
    if table.name == "reviews":
        specs.append(
            dg.AssetCheckSpec(
                REVIEWS_PURCHASED_CHECK,
                asset=key,
                additional_deps=[raw_key("orders"), raw_key("order_items")],
                description="Every review is of a product its author bought before reviewing.",
            )
        )

    @dg.multi_asset_check(specs=specs, name=f"raw_{table.name}_checks", can_subset=True)
    def _checks(context: dg.AssetCheckExecutionContext, storeml_db: PostgresResource):
        selected = {spec_key.name for spec_key in context.selected_asset_check_keys}
        with storeml_db.connect() as conn:
            if MIN_ROWS_CHECK in selected:
                result = integrity.check_min_rows(conn, table, min_rows_for(table))
                yield dg.AssetCheckResult(
                    check_name=MIN_ROWS_CHECK, asset_key=key, passed=result.passed, metadata=_meta(result)
                )
            if PRIMARY_KEY_CHECK in selected:
                result = integrity.check_primary_key(conn, table)
                yield dg.AssetCheckResult(
                    check_name=PRIMARY_KEY_CHECK, asset_key=key, passed=result.passed, metadata=_meta(result)
                )
            for ref in table.references:
                name = reference_check_name(ref.column)
                if name in selected:
                    result = integrity.check_reference(conn, table, ref)
                    yield dg.AssetCheckResult(
                        check_name=name,
                        asset_key=key,
                        passed=result.passed,
                        severity=dg.AssetCheckSeverity.ERROR,
                        metadata=_meta(result),
                    )
            if REVIEWS_PURCHASED_CHECK in selected:
                result = integrity.check_reviews_purchased(conn)
                yield dg.AssetCheckResult(
                    check_name=REVIEWS_PURCHASED_CHECK, asset_key=key, passed=result.passed, metadata=_meta(result)
                )

    return _checks


def build_source_checks() -> list[dg.AssetChecksDefinition]:
    return [build_table_checks(table) for table in CATALOG.values()]
