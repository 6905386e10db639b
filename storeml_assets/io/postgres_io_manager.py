"""storeml's Postgres IO manager: pandas and polars DataFrames in and out over ADBC (COPY binary).

* Asset key ``[..., schema, table]`` -> ``"schema"."table"``; a one-component key goes to
  ``public``. Definition metadata ``{"schema": "..."}`` overrides the schema.
* Unpartitioned outputs replace the table atomically; partitioned outputs replace their slice
  in one transaction. The slice column is given as definition metadata ``partition_expr``: a
  column name (or a trusted SQL expression) for a single dimension, a dict
  ``{dimension name: column}`` for multi-partitions — the dagster-duckdb convention. Time
  windows select ``column >= start and column < end`` (date / timestamp / timestamptz columns),
  static and dynamic keys ``column::text in (...)``. A frame with rows outside the partition
  being written is rejected before anything is written.
* Inputs read the whole table, or only the requested partitions' rows; ``AssetIn(metadata=
  {"columns": [...]})`` selects columns. The frame library follows the type annotation
  (``pd.DataFrame``, ``pl.DataFrame``, ``pl.LazyFrame``); unannotated inputs get pandas.
* Every output records ``dagster/row_count``, ``dagster/column_schema``, ``dagster/table_name``,
  ``dagster/relation_identifier`` (``database.schema.table``), ``preview`` (Markdown, first 5
  rows), ``write_seconds``, ``write_rows_per_second``, ``write_mode`` (swap | refill | slice), and
  for partitioned outputs ``dagster/partition_row_count``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import pandas as pd
import polars as pl
import pyarrow as pa
from pydantic import Field

from storeml_assets import markdown
from storeml_assets.db.urls import database_of
from storeml_assets.io.arrow_types import (
    FrameTypeError,
    arrow_to_pandas,
    arrow_to_polars,
    frame_schema,
    pandas_to_arrow,
    polars_to_arrow,
)
from storeml_assets.io.pg_tables import (
    Slice,
    TimeSlice,
    ValuesSlice,
    WriteResult,
    read_table,
    replace_table,
    write_slices,
)
from storeml_assets.resources.postgres import resolve_url

PREVIEW_ROWS = 5
#: Longest preview cell shown in full; longer text is cut with "...".
PREVIEW_CELL_WIDTH = 60
PANDAS, POLARS, POLARS_LAZY = "pandas", "polars", "polars_lazy"


# ---------------------------------------------------------------------------------------------
# plain helpers (no Dagster)
# ---------------------------------------------------------------------------------------------
def frame_to_arrow(obj: Any) -> pa.Table:
    """A pandas or polars frame as a normalised Arrow table."""
    if isinstance(obj, pd.DataFrame):
        return pandas_to_arrow(obj)
    if isinstance(obj, pl.DataFrame | pl.LazyFrame):
        return polars_to_arrow(obj)
    raise FrameTypeError(f"PostgresIOManager stores pandas or polars DataFrames, got {type(obj).__name__}")


def arrow_to_frame(table: pa.Table, kind: str, arrow_strings: bool = False) -> Any:
    if kind == PANDAS:
        return arrow_to_pandas(table, arrow_strings)
    frame = arrow_to_polars(table)
    return frame.lazy() if kind == POLARS_LAZY else frame


def store_frame(
    url: str, schema: str, table: str, obj: Any, slices: Sequence[Slice] | None = None
) -> tuple[pa.Table, WriteResult]:
    """Write a frame: atomic replace (``slices`` None) or slice rewrite. Returns its Arrow form too."""
    data = frame_to_arrow(obj)
    if slices is None:
        return data, replace_table(url, schema, table, data)
    return data, write_slices(url, schema, table, data, slices)


def load_frame(
    url: str,
    schema: str,
    table: str,
    kind: str = PANDAS,
    columns: Sequence[str] | None = None,
    slices: Sequence[Slice] = (),
    arrow_strings: bool = False,
) -> Any:
    """Read a table (optionally only some columns / partition slices) as a pandas or polars frame."""
    return arrow_to_frame(read_table(url, schema, table, columns, slices), kind, arrow_strings)


def preview_markdown(data: pa.Table, rows: int = PREVIEW_ROWS) -> str:
    """The first rows of a table as a Markdown table."""
    names = data.schema.names
    if not names:
        return "(no columns)"
    body = [[r[n] for n in names] for r in data.slice(0, rows).to_pylist()]
    return markdown.table(body, names, max_width=PREVIEW_CELL_WIDTH)


def output_metadata(
    database: str, schema: str, table: str, data: pa.Table, result: WriteResult
) -> dict[str, Any]:
    """The metadata every output records."""
    column_schema = dg.TableSchema(
        columns=[dg.TableColumn(name, sql_type) for name, sql_type in frame_schema(data)]
    )
    meta: dict[str, Any] = {
        "dagster/row_count": dg.MetadataValue.int(result.rows),
        "dagster/column_schema": column_schema,
        "dagster/table_name": dg.MetadataValue.text(f"{schema}.{table}"),
        "dagster/relation_identifier": dg.MetadataValue.text(f"{database}.{schema}.{table}"),
        "preview": dg.MetadataValue.md(preview_markdown(data)),
        "write_seconds": dg.MetadataValue.float(round(result.seconds, 3)),
        "write_rows_per_second": dg.MetadataValue.float(
            round(result.rows / result.seconds, 1) if result.seconds else 0.0
        ),
        "write_mode": dg.MetadataValue.text(result.mode),
    }
    if result.mode == "slice":
        meta["dagster/partition_row_count"] = dg.MetadataValue.int(result.rows)
    return meta


# ---------------------------------------------------------------------------------------------
# Dagster glue
# ---------------------------------------------------------------------------------------------
def _table_for(asset_key: dg.AssetKey, metadata: Mapping[str, Any] | None) -> tuple[str, str]:
    path = asset_key.path
    schema = path[-2] if len(path) > 1 else "public"
    override = (metadata or {}).get("schema")
    if isinstance(override, str) and override:
        schema = override
    return schema, path[-1]


def _kind_for(typing_type: Any, obj: Any = None) -> str:
    if isinstance(obj, pl.LazyFrame) or typing_type is pl.LazyFrame:
        return POLARS_LAZY
    if isinstance(obj, pl.DataFrame) or typing_type is pl.DataFrame:
        return POLARS
    return PANDAS


def partition_slices(context: dg.InputContext | dg.OutputContext, partition_expr: Any) -> list[Slice] | None:
    """The slices a partitioned context covers, from its ``partition_expr``; None if unpartitioned."""
    if not context.has_asset_partitions:
        return None
    key = context.asset_key.to_user_string()
    if not partition_expr:
        raise ValueError(
            f"asset {key} is partitioned but has no 'partition_expr' definition metadata naming its partition column"
        )
    pdef = context.asset_partitions_def
    if isinstance(pdef, dg.MultiPartitionsDefinition):
        if not isinstance(partition_expr, Mapping):
            raise ValueError(
                f"asset {key} has multi-partitions: 'partition_expr' must map each dimension to a column"
            )
        keys = [pdef.get_partition_key_from_str(str(k)) for k in context.asset_partition_keys]
        slices: list[Slice] = []
        for dim in pdef.partitions_defs:
            if dim.name not in partition_expr:
                raise ValueError(f"asset {key}: 'partition_expr' has no column for dimension {dim.name!r}")
            dim_keys = sorted({k.keys_by_dimension[dim.name] for k in keys})
            if isinstance(dim.partitions_def, dg.TimeWindowPartitionsDefinition):
                windows = [dim.partitions_def.time_window_for_partition_key(k) for k in dim_keys]
                slices.append(
                    TimeSlice(
                        partition_expr[dim.name], min(w.start for w in windows), max(w.end for w in windows)
                    )
                )
            else:
                slices.append(ValuesSlice(partition_expr[dim.name], tuple(dim_keys)))
        return slices
    if not isinstance(partition_expr, str):
        raise ValueError(
            f"asset {key}: 'partition_expr' must be a column name for a single partition dimension"
        )
    if isinstance(pdef, dg.TimeWindowPartitionsDefinition):
        window = context.asset_partitions_time_window
        return [TimeSlice(partition_expr, window.start, window.end)]
    return [ValuesSlice(partition_expr, tuple(context.asset_partition_keys))]


class PostgresIOManager(dg.ConfigurableIOManager):
    """Stores pandas/polars DataFrames as Postgres tables (schema = key prefix) via ADBC COPY."""

    database: str = Field(
        default="storeml",
        description="Which storeml database holds the tables (one of the settings' databases).",
    )
    url: str | None = Field(
        default=None,
        description="Explicit libpq URL (pass as dg.EnvVar); when unset the database's URL comes from "
        "settings, starting the embedded server on demand.",
    )

    pandas_arrow_strings: bool = Field(
        default=False,
        description="Load text columns into pandas as string[pyarrow] instead of object (Python str); "
        "several times faster on large tables.",
    )

    def _url(self) -> str:
        return resolve_url(self.database, self.url)

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None and context.dagster_type.typing_type in (None, type(None)):
            return
        url = self._url()
        metadata = context.definition_metadata or {}
        schema, table = _table_for(context.asset_key, metadata)
        slices = partition_slices(context, metadata.get("partition_expr"))
        data, result = store_frame(url, schema, table, obj, slices)
        rate = result.rows / result.seconds if result.seconds else 0.0
        context.log.info(
            f"wrote {result.rows:,} rows to {schema}.{table} ({result.mode}) in {result.seconds:.2f}s ({rate:,.0f} rows/s)"
        )
        context.add_output_metadata(output_metadata(database_of(url), schema, table, data, result))

    def load_input(self, context: dg.InputContext) -> Any:
        upstream_meta = (
            context.upstream_output.definition_metadata if context.upstream_output else None
        ) or {}
        schema, table = _table_for(context.asset_key, upstream_meta)
        columns = (context.definition_metadata or {}).get("columns")
        slices = partition_slices(context, upstream_meta.get("partition_expr")) or []
        kind = _kind_for(context.dagster_type.typing_type)
        return load_frame(self._url(), schema, table, kind, columns, slices, self.pandas_arrow_strings)
