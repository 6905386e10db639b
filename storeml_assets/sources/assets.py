"""One asset per storefront source table, extracted into ``raw.<table>`` (group `sources`).

Built from :mod:`storeml_assets.sources.catalog` by one factory. Like Dagster's dlt and Sling
integrations, the tables are computed by two subsettable multi-assets (dimension tables, and
daily-partitioned event tables), so a run extracts many tables in one step instead of paying a
process start per table; each table remains its own asset with its own metadata and checks.
A day's partition reads only that day's rows.
"""

import time
from datetime import UTC, date, datetime

import dagster as dg

from storeml_assets.io.arrow_types import arrow_to_polars
from storeml_assets.keys import SOURCES_GROUP, raw_key
from storeml_assets.partitions import DAILY_PARTITIONS, EVENTS_BEFORE_TAG, partition_range
from storeml_assets.sources.catalog import CATALOG, SourceTable
from storeml_assets.sources.extract import OutsideRows, Window, count_outside, extract
from storeml_assets.sources.resources import StorefrontSources


def events_before(tags: dict[str, str]) -> datetime | None:
    """The ``storeml/events_before`` run tag as a UTC midnight, or None; a bad value is an error."""
    raw = tags.get(EVENTS_BEFORE_TAG)
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"run tag {EVENTS_BEFORE_TAG}={raw!r} is not a date (YYYY-MM-DD)") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def source_generation(instance: dg.DagsterInstance, upstream: list[dg.AssetKey]) -> str | None:
    """Run id of the latest materialization of the assets that write the sources (the simulator), if any."""
    runs = []
    for key in upstream:
        event = instance.get_latest_materialization_event(key)
        if event is not None:
            runs.append((event.timestamp, event.run_id))
    return max(runs)[1] if runs else None


def clip(window: Window, before: datetime | None) -> Window:
    """``window`` cut at ``before`` (an empty window when it starts at or after it)."""
    if before is None or window.end <= before:
        return window
    return Window(window.start, max(window.start, before))


def outside_metadata(outside: OutsideRows) -> dict[str, dg.MetadataValue]:
    """Metadata naming the source rows no partition can hold."""
    return {
        "rows_outside_partitions": dg.MetadataValue.int(outside.total),
        "rows_before_first_partition": dg.MetadataValue.int(outside.before),
        "rows_after_last_partition": dg.MetadataValue.int(outside.after),
        "rows_without_event_time": dg.MetadataValue.int(outside.undated),
        "rows_outside_partitions_sample": dg.MetadataValue.json(list(outside.sample)),
    }


def _out(table: SourceTable) -> dg.AssetOut:
    metadata: dict[str, object] = {"source_database": table.database, "primary_key": list(table.primary_key)}
    if table.partitioned:
        metadata["partition_expr"] = table.partition_column
    return dg.AssetOut(
        key=raw_key(table.name),
        description=f"{table.description} Extracted from {table.database}.{table.name}.",
        metadata=metadata,
        kinds={"postgres", "polars"},
        tags={"storeml/service": table.database, "storeml/kind": "event" if table.partitioned else "dimension"},
        owners=["team:data-engineering"],
        code_version="1",
        is_required=False,
    )


def build_extract_assets(
    tables: list[SourceTable], *, name: str, partitioned: bool, deps: list[dg.AssetKey]
) -> dg.AssetsDefinition:
    """A multi-asset extracting ``tables`` (one output, one asset, per table)."""
    by_output = {t.name: t for t in tables}

    @dg.multi_asset(
        name=name,
        outs={t.name: _out(t) for t in tables},
        group_name=SOURCES_GROUP,
        partitions_def=DAILY_PARTITIONS if partitioned else None,
        backfill_policy=dg.BackfillPolicy.single_run() if partitioned else None,
        can_subset=True,
        deps=deps,
        pool="postgres_heavy_write",
    )
    def _extract(context: dg.AssetExecutionContext, sources: StorefrontSources):
        window = None
        if partitioned:
            tw = context.partition_time_window
            window = clip(Window(tw.start, tw.end), events_before(dict(context.run.tags)))
        scope = f"{window.start:%Y-%m-%d}..{window.end:%Y-%m-%d}" if window else "whole table"
        generation = source_generation(context.instance, deps)
        for output_name in sorted(context.selected_output_names):
            table = by_output[output_name]
            started = time.perf_counter()
            url = sources.url(table.database)
            data = extract(url, table, window)
            seconds = time.perf_counter() - started
            context.log.info(
                f"read {data.num_rows:,} rows of {table.database}.{table.name} ({scope}) in {seconds:.2f}s"
            )
            metadata: dict[str, dg.MetadataValue] = {
                "extract_seconds": dg.MetadataValue.float(round(seconds, 3)),
                "window": dg.MetadataValue.text(scope),
            }
            if generation:
                # which simulated storefront this table holds: tables of different generations side by side show
                metadata["storefront_generation"] = dg.MetadataValue.text(generation)
            if partitioned:
                # rows dated outside every partition never reach raw: say how many, never drop them silently
                outside = count_outside(url, table, Window(*partition_range()))
                metadata.update(outside_metadata(outside))
                if outside.total:
                    context.log.warning(
                        f"{outside.total:,} rows of {table.database}.{table.name} lie outside the daily partitions "
                        f"({outside.before:,} before, {outside.after:,} after, {outside.undated:,} undated) and are "
                        f"not extracted; e.g. {', '.join(outside.sample[:5])}"
                    )
            frame = arrow_to_polars(data)
            del data  # the next table is read while this one would otherwise still be held here
            yield dg.Output(frame, output_name=output_name, metadata=metadata)
            del frame

    return _extract


def build_source_assets(upstream: list[dg.AssetKey] | None = None) -> list[dg.AssetsDefinition]:
    """Extract assets for every catalog table; ``upstream`` is the simulator in synthetic mode."""
    tables = list(CATALOG.values())
    deps = list(upstream or [])
    return [
        build_extract_assets(
            [t for t in tables if not t.partitioned], name="extract_dimension_tables", partitioned=False, deps=deps
        ),
        build_extract_assets(
            [t for t in tables if t.partitioned], name="extract_event_tables", partitioned=True, deps=deps
        ),
    ]
