"""Real-data shapes in the extracted ``raw`` tables, reported with counts and samples instead of failing the run.

A real storefront has guest orders, cancellations and returns, lines with negative quantities, zero or
missing prices, names with odd whitespace and punctuation, very long texts and a currency column.
None of these stops the run: the warning check ``real_data_shapes`` of ``raw/orders``,
``raw/order_items`` and ``raw/products`` counts each, with a few sample keys, and fails (a warning)
only when the table is unusable: no order that counts as a sale, no line with a positive quantity and a
price, no product with a SKU.
"""


from dataclasses import dataclass

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storeml_assets.io.pg_tables import qualified
from storeml_assets.keys import raw_key
from storeml_assets.resources.postgres import PostgresResource
from storeml_assets.sources.integrity import IntegrityResult, table_exists

REAL_DATA_CHECK = "real_data_shapes"
SAMPLE_SIZE = 5
#: A text longer than this is "very long" (counted, never cut).
LONG_TEXT = 1000


@dataclass(frozen=True)
class Shape:
    """One shape to count: its name, the predicate over the table's rows, and the key shown in samples."""

    name: str
    predicate: str
    #: columns the predicate needs (the shape is not counted when the table lacks one)
    columns: tuple[str, ...]


SHAPES: dict[str, tuple[str, tuple[Shape, ...], Shape]] = {
    # table: (sample key, shapes, what makes a row usable)
    "orders": ("order_id", (
        Shape("guest_orders", "user_id is null", ("user_id",)),
        Shape("cancelled_or_failed", "lower(btrim(status)) in ('cancelled', 'canceled', 'payment_failed')", ("status",)),
        Shape("returned", "lower(btrim(status)) in ('returned', 'refunded')", ("status",)),
        Shape("without_event_time", "ordered_at is null", ("ordered_at",)),
    ), Shape("usable", "lower(btrim(coalesce(status, ''))) not in ('cancelled', 'canceled', 'payment_failed')",
             ("status",))),
    "order_items": ("order_item_id", (
        Shape("negative_quantity", "quantity < 0", ("quantity",)),
        Shape("zero_quantity", "quantity = 0", ("quantity",)),
        Shape("zero_price", "unit_price = 0", ("unit_price",)),
        Shape("missing_price", "unit_price is null", ("unit_price",)),
        Shape("missing_line_total", "line_total is null", ("line_total",)),
    ), Shape("usable", "quantity > 0 and unit_price is not null", ("quantity", "unit_price"))),
    "products": ("product_id", (
        Shape("odd_whitespace_in_name", r"name <> btrim(regexp_replace(name, '\s+', ' ', 'g'))", ("name",)),
        Shape("long_name", f"length(name) > {LONG_TEXT}", ("name",)),
        Shape("long_description", f"length(description) > {LONG_TEXT}", ("description",)),
        Shape("zero_price", "price = 0", ("price",)),
        Shape("missing_price", "price is null", ("price",)),
        Shape("missing_sku", "sku is null or btrim(sku) = ''", ("sku",)),
    ), Shape("usable", "sku is not null and btrim(sku) <> ''", ("sku",))),
}


def _columns(conn: Connection, table: str) -> set[str]:
    rows = conn.execute(
        sa.text("select column_name from information_schema.columns where table_schema = 'raw' and table_name = :t"),
        {"t": table},
    )
    return {row[0] for row in rows}


def check_real_data_shapes(conn: Connection, table: str) -> IntegrityResult:
    """Counts and sample keys of each real-data shape of ``raw.<table>``; fails only when no row is usable."""
    key, shapes, usable = SHAPES[table]
    if not table_exists(conn, table):
        return IntegrityResult(False, f"raw.{table} does not exist yet")
    columns = _columns(conn, table)
    name = qualified("raw", table)
    present = [shape for shape in shapes if set(shape.columns) <= columns]
    counts = ", ".join(f"count(*) filter (where {shape.predicate})" for shape in present)
    usable_sql = usable.predicate if set(usable.columns) <= columns else "true"
    row = conn.execute(sa.text(f"select count(*), count(*) filter (where {usable_sql}){', ' + counts if counts else ''} "
                               f"from {name}")).one()
    total, usable_rows, *figures = (int(v or 0) for v in row)
    result: dict[str, object] = {"rows": total, "usable_rows": usable_rows}
    parts = []
    for shape, count in zip(present, figures, strict=True):
        result[shape.name] = count
        if count:
            sample = conn.execute(sa.text(
                f"select {key}::text from {name} where {shape.predicate} order by 1 limit {SAMPLE_SIZE}"
            )).scalars().all() if key in columns else []
            result[f"{shape.name}_sample"] = [str(s) for s in sample]
            parts.append(f"{count:,} {shape.name.replace('_', ' ')}")
    if table == "orders" and "currency" in columns:
        currencies = conn.execute(sa.text(
            f"select coalesce(btrim(currency), '(none)') as c, count(*) from {name} group by 1 order by 2 desc limit 10"
        )).all()
        result["currencies"] = [f"{c}: {n}" for c, n in currencies]
        if len(currencies) > 1:
            parts.append(f"{len(currencies)} currencies (amounts are not converted)")
    passed = total == 0 or usable_rows > 0
    summary = f"{total:,} rows, {usable_rows:,} usable" + (f"; {', '.join(parts)}" if parts else "; no odd shapes")
    if not passed:
        summary += f" — no usable row ({usable.predicate})"
    return IntegrityResult(passed, summary, result)


def _metadata(result: IntegrityResult) -> dict[str, dg.MetadataValue]:
    meta: dict[str, dg.MetadataValue] = {"summary": dg.MetadataValue.text(result.description)}
    for key, value in result.figures.items():
        meta[key] = dg.MetadataValue.int(value) if isinstance(value, int) else dg.MetadataValue.json(value)
    return meta


def build_quality_checks() -> list[dg.AssetChecksDefinition]:
    """``real_data_shapes`` on orders, order items and products: warnings with counts and samples."""
    specs = [
        dg.AssetCheckSpec(
            REAL_DATA_CHECK,
            asset=raw_key(table),
            description="Real-data shapes (guest orders, cancellations, returns, negative quantities, zero or missing "
            "prices, odd whitespace, long texts, currencies) counted with samples; a warning only when no row is usable.",
        )
        for table in SHAPES
    ]

    @dg.multi_asset_check(specs=specs, name="source_data_shapes", can_subset=True)
    def source_data_shapes(context: dg.AssetCheckExecutionContext, storeml_db: PostgresResource):
        with storeml_db.connect() as conn:
            for check_key in sorted(context.selected_asset_check_keys, key=lambda k: k.asset_key.path):
                result = check_real_data_shapes(conn, check_key.asset_key.path[-1])
                yield dg.AssetCheckResult(
                    check_name=check_key.name,
                    asset_key=check_key.asset_key,
                    passed=result.passed,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata=_metadata(result),
                )

    return [source_data_shapes]
