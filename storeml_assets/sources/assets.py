"""One asset per storefront source table, extracted into ``raw.<table>`` (group `sources`).

Built by one factory from :mod:`storeml_assets.sources.catalog`. Event tables are
daily-partitioned on their event time, and a day's partition reads only that day's rows.
"""


import time

import dagster as dg
import polars as pl

from storeml_assets.io.arrow_types import arrow_to_polars
from storeml_assets.partitions import DAILY_PARTITIONS
from storeml_assets.sources.catalog import CATALOG, SourceTable
from storeml_assets.sources.extract import Window, extract
from storeml_assets.sources.resources import StorefrontSources

SOURCES_GROUP = "sources"
RAW_SCHEMA = "raw"


def raw_key(table: str) -> dg.AssetKey:
    return dg.AssetKey([RAW_SCHEMA, table])


def build_source_asset(table: SourceTable, deps: list[dg.AssetKey]) -> dg.AssetsDefinition:
    """The extract asset of one source table."""
    metadata: dict[str, object] = {"source_database": table.database, "primary_key": list(table.primary_key)}
    if table.partitioned:
        metadata["partition_expr"] = table.partition_column

    @dg.asset(
        key=raw_key(table.name),
        group_name=SOURCES_GROUP,
        description=f"{table.description} Extracted from {table.database}.{table.name}.",
        partitions_def=DAILY_PARTITIONS if table.partitioned else None,
        backfill_policy=dg.BackfillPolicy.single_run() if table.partitioned else None,
        metadata=metadata,
        deps=deps,
        kinds={"postgres", "polars"},
        tags={"storeml/service": table.database, "storeml/kind": "event" if table.partitioned else "dimension"},
        owners=["team:data-engineering"],
        code_version="1",
        pool="postgres_heavy_write",
    )
    def _extract(context: dg.AssetExecutionContext, sources: StorefrontSources) -> pl.DataFrame:
        window = None
        if table.partitioned:
            tw = context.partition_time_window
            window = Window(tw.start, tw.end)
        started = time.perf_counter()
        data = extract(sources.url(table.database), table, window)
        seconds = time.perf_counter() - started
        scope = f"{window.start:%Y-%m-%d}..{window.end:%Y-%m-%d}" if window else "whole table"
        context.log.info(f"read {data.num_rows:,} rows of {table.database}.{table.name} ({scope}) in {seconds:.2f}s")
        context.add_output_metadata({"extract_seconds": round(seconds, 3), "window": scope})
        return arrow_to_polars(data)

    _extract.__name__ = f"raw_{table.name}"
    return _extract


def build_source_assets(upstream: list[dg.AssetKey] | None = None) -> list[dg.AssetsDefinition]:
    """Extract assets for every catalog table; ``upstream`` is the simulator in synthetic mode."""
    return [build_source_asset(table, list(upstream or [])) for table in CATALOG.values()]
