"""Asset factories and SQL helpers for the IO manager tests (pandas and polars variants)."""

from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg
import pandas as pd
import polars as pl
import psycopg2

from storeml_assets.io import PostgresIOManager

KINDS = ("pandas", "polars")


def source_asset(
    key: Sequence[str],
    kind: str,
    make: Callable[[dg.AssetExecutionContext], Any],
    *,
    partitions_def: dg.PartitionsDefinition | None = None,
    metadata: dict[str, Any] | None = None,
    op_name: str | None = None,
) -> dg.AssetsDefinition:
    """An asset at ``key`` returning ``make(context)`` annotated as a pandas or polars frame.

    ``op_name`` is needed when the key's components are not valid Dagster names.
    """
    if op_name is not None:
        frame_type = pd.DataFrame if kind == "pandas" else pl.DataFrame

        @dg.multi_asset(
            name=op_name,
            outs={
                "result": dg.AssetOut(key=dg.AssetKey(list(key)), dagster_type=frame_type, metadata=metadata)
            },
            partitions_def=partitions_def,
        )
        def src_named(context: dg.AssetExecutionContext):  # type: ignore[no-untyped-def]
            return make(context)

        return src_named
    if kind == "pandas":

        @dg.asset(key=list(key), partitions_def=partitions_def, metadata=metadata)
        def src_pd(context: dg.AssetExecutionContext) -> pd.DataFrame:
            return make(context)

        return src_pd

    @dg.asset(key=list(key), partitions_def=partitions_def, metadata=metadata)
    def src_pl(context: dg.AssetExecutionContext) -> pl.DataFrame:
        return make(context)

    return src_pl


def sink_asset(
    upstream: Sequence[str],
    kind: str,
    captured: dict[str, Any],
    *,
    name: str = "sink",
    partitions_def: dg.PartitionsDefinition | None = None,
    columns: list[str] | None = None,
    partition_mapping: dg.PartitionMapping | None = None,
) -> dg.AssetsDefinition:
    """A downstream asset that stores what the IO manager loaded into ``captured['value']``."""
    asset_in = dg.AssetIn(
        key=list(upstream),
        metadata={"columns": columns} if columns else None,
        partition_mapping=partition_mapping,
    )
    if kind == "pandas":

        @dg.asset(name=name, ins={"upstream": asset_in}, partitions_def=partitions_def)
        def sink_pd(upstream: pd.DataFrame) -> None:
            captured["value"] = upstream

        return sink_pd

    @dg.asset(name=name, ins={"upstream": asset_in}, partitions_def=partitions_def)
    def sink_pl(upstream: pl.DataFrame) -> None:
        captured["value"] = upstream

    return sink_pl


def materialize(
    assets: list[Any],
    url: str,
    *,
    partition_key: str | None = None,
    selection: Any = None,
    raise_on_error: bool = True,
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets,
        resources={"io_manager": PostgresIOManager(url=url)},
        partition_key=partition_key,
        selection=selection,
        raise_on_error=raise_on_error,
        instance=instance,
    )


def query(url: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, tuple(params))
            rows = cur.fetchall() if cur.description else []
        conn.commit()
        return rows
    finally:
        conn.close()


def to_pandas(frame: Any) -> pd.DataFrame:
    return frame.to_pandas() if isinstance(frame, pl.DataFrame) else frame


def frame_of(kind: str, data: dict[str, list[Any]]) -> Any:
    return pd.DataFrame(data) if kind == "pandas" else pl.DataFrame(data)
