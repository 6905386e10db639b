"""Asset checks on the extracted source tables: minimum rows (blocking), keys, references."""

import dagster as dg

from storeml_assets.db.locator import DatabaseUnreachableError, connect
from storeml_assets.keys import MIN_ROWS_CHECK, PRIMARY_KEY_CHECK, raw_key
from storeml_assets.partitions import partition_range
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets.sources import integrity
from storeml_assets.sources.catalog import CATALOG, REQUIRED_TABLES, SourceTable, min_rows_for
from storeml_assets.sources.extract import Window
from storeml_assets.sources.resources import StorefrontSources

REVIEWS_PURCHASED_CHECK = "reviews_of_purchased_products"
#: Non-blocking (warning): source rows dated outside every daily partition, which raw never gets.
IN_PARTITION_RANGE_CHECK = "source_rows_inside_partitions"


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


def table_check_specs(table: SourceTable) -> list[dg.AssetCheckSpec]:
    """The checks of one source table."""
    key = raw_key(table.name)
    specs = [
        dg.AssetCheckSpec(
            MIN_ROWS_CHECK,
            asset=key,
            blocking=table.name in REQUIRED_TABLES,
            description=f"At least {min_rows_for(table):,} rows "
            + ("(blocking: downstream assets wait for it)." if table.name in REQUIRED_TABLES else
               "(a warning: the table is optional; what needs it skips itself)."),
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
    if table.partitioned:
        specs.append(
            dg.AssetCheckSpec(
                IN_PARTITION_RANGE_CHECK,
                asset=key,
                description=(
                    f"Every row of {table.database}.{table.name} is dated inside the daily partitions; rows "
                    "outside them are never extracted (warning with their count and sample keys)."
                ),
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
    return specs


def evaluate_check(conn, table: SourceTable, check_name: str) -> integrity.IntegrityResult:
    """Run one named check of ``table`` (plain SQL over ``raw``)."""
    if check_name == MIN_ROWS_CHECK:
        return integrity.check_min_rows(conn, table, min_rows_for(table))
    if check_name == PRIMARY_KEY_CHECK:
        return integrity.check_primary_key(conn, table)
    if check_name == REVIEWS_PURCHASED_CHECK:
        return integrity.check_reviews_purchased(conn)
    for ref in table.references:
        if check_name == reference_check_name(ref.column):
            return integrity.check_reference(conn, table, ref)
    raise ValueError(f"unknown check {check_name!r} on raw.{table.name}")


def not_run_message(check_name: str, asset_key: dg.AssetKey, reason: str) -> str:
    """The warning a check step logs for a selected check it could not evaluate (``storeml check`` shows it)."""
    return f"{check_name} on {'.'.join(asset_key.path)} not run: {reason}"


def unreachable_sources(sources: StorefrontSources, databases: set[str]) -> dict[str, str]:
    """``{database: reason}`` for each of ``databases`` that cannot be connected to (one redacted line each)."""
    unreachable: dict[str, str] = {}
    for database in sorted(databases):
        try:
            connect(sources.url(database), application_name="storeml-check", connect_timeout=10).close()
        except DatabaseUnreachableError as exc:
            unreachable[database] = str(exc)
    return unreachable


def build_source_checks() -> list[dg.AssetChecksDefinition]:
    """Every source table's checks, evaluated in one step (subsettable: only the selected ones run)."""
    specs = [spec for table in CATALOG.values() for spec in table_check_specs(table)]

    @dg.multi_asset_check(specs=specs, name="source_table_checks", can_subset=True)
    def source_table_checks(
        context: dg.AssetCheckExecutionContext, storeml_db: PostgresResource, sources: StorefrontSources
    ):
        selected = sorted(context.selected_asset_check_keys, key=lambda k: (k.asset_key.path, k.name))
        # the range check reads the storefront's own database: when it is unreachable (a CI runner with
        # only storeml's database, say) that check is not run, with the reason logged; the others still run
        unreachable = unreachable_sources(sources, {
            CATALOG[k.asset_key.path[-1]].database for k in selected if k.name == IN_PARTITION_RANGE_CHECK
        })
        with storeml_db.connect() as conn:
            integrity.use_check_memory(conn)
            for check_key in selected:
                table = CATALOG[check_key.asset_key.path[-1]]
                if check_key.name == IN_PARTITION_RANGE_CHECK:
                    if table.database in unreachable:
                        context.log.warning(
                            not_run_message(check_key.name, check_key.asset_key, unreachable[table.database])
                        )
                        continue
                    url = sources.url(table.database)
                    result = integrity.check_rows_in_partition_range(url, table, Window(*partition_range()))
                    severity = dg.AssetCheckSeverity.WARN
                else:
                    result = evaluate_check(conn, table, check_key.name)
                    optional = check_key.name == MIN_ROWS_CHECK and table.name not in REQUIRED_TABLES
                    severity = dg.AssetCheckSeverity.WARN if optional else dg.AssetCheckSeverity.ERROR
                yield dg.AssetCheckResult(
                    check_name=check_key.name,
                    asset_key=check_key.asset_key,
                    passed=result.passed,
                    severity=severity,
                    metadata=_meta(result),
                )

    return [source_table_checks]
