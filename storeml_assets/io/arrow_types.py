"""pandas / polars <-> Arrow <-> Postgres type mapping, free of Dagster and of any connection.

Supported column types (both directions, for pandas and polars):

| frame                                   | Arrow                  | Postgres            |
|-----------------------------------------|------------------------|---------------------|
| int16 / int32 / int64 (pandas Int64 too) | int16/int32/int64      | smallint/integer/bigint |
| uint8 / uint16 / uint32                  | widened to signed      | smallint/integer/bigint |
| float32 / float64                        | float32/float64        | real/double precision |
| bool (pandas boolean too)                | bool                   | boolean             |
| str / categorical                        | string                 | text                |
| date                                     | date32                 | date                |
| naive datetime                           | timestamp[us]          | timestamp           |
| tz-aware datetime (stored as UTC)        | timestamp[us, UTC]     | timestamptz         |
| Decimal (pl.Decimal, pandas Decimal obj) | decimal128(p, s)       | numeric(p, s)       |
| list (pl.List, pandas object of lists)   | list<...>              | element[]           |
| dict (pl.Struct, pandas object of dicts) | JSON text              | json                |
| bytes                                    | binary                 | bytea               |

Timestamps keep microsecond precision (Postgres' resolution). On read, pandas gets nullable
``Int*``/``boolean`` dtypes only for columns that hold nulls, Python lists for arrays, dicts for
json/jsonb, ``Decimal`` objects for numeric; polars gets ``List``, ``Struct`` (decoded JSON) and
``Decimal``. A pandas frame's index is not stored.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from storeml_assets.jsonsafe import to_jsonable

#: Field-metadata marker for columns that hold JSON text.
JSON_MARK = b"storeml:json"
MAX_IDENTIFIER_BYTES = 63
#: Threads pyarrow may use converting a pandas frame.
PANDAS_THREADS = 2


class FrameTypeError(TypeError):
    """A frame column whose type storeml cannot store; names the column."""


@dataclass(frozen=True)
class PgColumn:
    """One column of an existing Postgres table."""

    name: str
    typname: str  # pg_type.typname, e.g. int8, _text, numeric
    formatted: str  # format_type(), e.g. "numeric(10,2)"
    typmod: int
    elem_typname: str | None = None  # for arrays, e.g. "int8"


def check_identifier(name: str, what: str) -> str:
    """Reject identifiers Postgres would silently truncate."""
    if not isinstance(name, str) or name == "":
        raise ValueError(f"{what} must be a non-empty string, got {name!r}")
    if len(name.encode()) > MAX_IDENTIFIER_BYTES:
        raise ValueError(
            f"{what} {name!r} is longer than Postgres' {MAX_IDENTIFIER_BYTES}-byte identifier limit"
        )
    return name


# ---------------------------------------------------------------------------------------------
# frame -> Arrow
# ---------------------------------------------------------------------------------------------
def _first_non_null(values: Iterable[Any]) -> Any:
    for value in values:
        if value is not None and not (isinstance(value, float) and value != value):
            return value
    return None


def _dumps(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return json.dumps(to_jsonable(value), separators=(",", ":"), allow_nan=False, default=str)


def _mark_json(field: pa.Field) -> pa.Field:
    return field.with_metadata({**(field.metadata or {}), JSON_MARK: b"1"})


def is_json_field(field: pa.Field) -> bool:
    return bool(field.metadata) and field.metadata.get(JSON_MARK) == b"1"


def pandas_to_arrow(df: pd.DataFrame) -> pa.Table:
    """A pandas frame as an Arrow table (index dropped; dict columns become JSON text)."""
    if df.columns.duplicated().any():
        raise FrameTypeError(f"duplicate column names: {sorted(set(df.columns[df.columns.duplicated()]))}")
    json_cols: list[str] = []
    for name in df.columns:
        if not isinstance(name, str):
            raise FrameTypeError(f"column names must be strings, got {name!r}")
        if df[name].dtype == object and isinstance(_first_non_null(df[name]), dict):
            json_cols.append(name)
    if json_cols:
        df = df.copy(deep=False)
        for name in json_cols:
            df[name] = pd.Series([_dumps(v) for v in df[name]], index=df.index, dtype=object)
    table = pa.Table.from_pandas(df, preserve_index=False, nthreads=PANDAS_THREADS)
    table = table.replace_schema_metadata(None)
    for name in json_cols:
        idx = table.schema.get_field_index(name)
        table = table.set_column(idx, _mark_json(table.schema.field(idx)), table.column(idx))
    return normalize_arrow(table)


def polars_to_arrow(df: pl.DataFrame | pl.LazyFrame) -> pa.Table:
    """A polars frame as an Arrow table (struct columns become JSON text)."""
    if isinstance(df, pl.LazyFrame):
        df = df.collect()
    json_cols = [name for name, dtype in df.schema.items() if isinstance(dtype, pl.Struct)]
    casts = [pl.col(n).struct.json_encode() for n in json_cols]
    casts += [
        pl.col(n).cast(pl.String)
        for n, dtype in df.schema.items()
        if isinstance(dtype, pl.Categorical | pl.Enum)
    ]
    if casts:
        df = df.with_columns(casts)
    table = df.to_arrow()
    for name in json_cols:
        idx = table.schema.get_field_index(name)
        table = table.set_column(idx, _mark_json(table.schema.field(idx)), table.column(idx))
    return normalize_arrow(table)


def _normalize_type(dtype: pa.DataType, column: str) -> pa.DataType:
    """The Arrow type storeml writes for ``dtype`` (what Postgres' COPY binary accepts)."""
    if pa.types.is_timestamp(dtype):
        return pa.timestamp("us", tz="UTC" if dtype.tz else None)
    if pa.types.is_date64(dtype):
        return pa.date32()
    if pa.types.is_uint8(dtype) or pa.types.is_int8(dtype):
        return pa.int16()
    if pa.types.is_uint16(dtype):
        return pa.int32()
    if pa.types.is_uint32(dtype) or pa.types.is_uint64(dtype):
        return pa.int64()
    if pa.types.is_float16(dtype):
        return pa.float32()
    if pa.types.is_dictionary(dtype):
        return _normalize_type(dtype.value_type, column)
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype) or pa.types.is_fixed_size_list(dtype):
        return pa.list_(_normalize_type(dtype.value_type, column))
    if pa.types.is_struct(dtype) or pa.types.is_map(dtype) or pa.types.is_union(dtype):
        raise FrameTypeError(f"column {column!r} has unsupported nested type {dtype}")
    if pa.types.is_duration(dtype) or pa.types.is_interval(dtype):
        raise FrameTypeError(f"column {column!r} has unsupported type {dtype}")
    return dtype


def normalize_arrow(table: pa.Table) -> pa.Table:
    """Cast columns to the types storeml stores (microsecond timestamps, UTC, signed ints...)."""
    fields = []
    changed = False
    for field in table.schema:
        check_identifier(field.name, "column name")
        target = _normalize_type(field.type, field.name)
        changed = changed or target != field.type
        fields.append(pa.field(field.name, target, nullable=True, metadata=field.metadata))
    if not changed:
        return table
    return table.cast(pa.schema(fields), safe=False)


# ---------------------------------------------------------------------------------------------
# Arrow -> Postgres DDL
# ---------------------------------------------------------------------------------------------
def pg_type_for(field: pa.Field) -> str:
    """The Postgres column type storeml creates for an Arrow field."""
    if is_json_field(field):
        return "json"
    return _pg_type(field.type, field.name)


def _pg_type(dtype: pa.DataType, column: str) -> str:
    if pa.types.is_int16(dtype):
        return "smallint"
    if pa.types.is_int32(dtype):
        return "integer"
    if pa.types.is_int64(dtype):
        return "bigint"
    if pa.types.is_float32(dtype):
        return "real"
    if pa.types.is_float64(dtype):
        return "double precision"
    if pa.types.is_boolean(dtype):
        return "boolean"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return "text"
    if pa.types.is_null(dtype):
        return "text"
    if pa.types.is_date32(dtype):
        return "date"
    if pa.types.is_timestamp(dtype):
        return "timestamptz" if dtype.tz else "timestamp"
    if pa.types.is_time(dtype):
        return "time"
    if pa.types.is_decimal(dtype):
        return f"numeric({dtype.precision},{dtype.scale})"
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        return "bytea"
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return _pg_type(dtype.value_type, column) + "[]"
    raise FrameTypeError(f"column {column!r} has unsupported type {dtype}")


# ---------------------------------------------------------------------------------------------
# compatibility with an existing table
# ---------------------------------------------------------------------------------------------
_PG_FAMILY = {
    "int2": "integer",
    "int4": "integer",
    "int8": "integer",
    "float4": "float",
    "float8": "float",
    "numeric": "numeric",
    "bool": "boolean",
    "text": "text",
    "varchar": "text",
    "bpchar": "text",
    "name": "text",
    "date": "date",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
    "json": "json",
    "jsonb": "json",
    "bytea": "bytea",
    "time": "time",
}
_COMPATIBLE = {
    ("integer", "float"),
    ("integer", "numeric"),
    ("float", "numeric"),
    ("numeric", "float"),
    ("text", "json"),
}


_SQL_FAMILY = {
    "smallint": "integer",
    "integer": "integer",
    "bigint": "integer",
    "real": "float",
    "double precision": "float",
    "boolean": "boolean",
    "text": "text",
    "date": "date",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
    "time": "time",
    "bytea": "bytea",
}


def _arrow_family(field: pa.Field) -> str:
    if is_json_field(field):
        return "json"
    sql_type = _pg_type(field.type, field.name)
    if sql_type.endswith("[]"):
        return "array"
    if sql_type.startswith("numeric"):
        return "numeric"
    return _SQL_FAMILY.get(sql_type, sql_type)


def _pg_family(column: PgColumn) -> str:
    if column.typname.startswith("_"):
        return "array"
    return _PG_FAMILY.get(column.typname, column.typname)


def arrow_type_for_pg(column: PgColumn, current: pa.DataType) -> pa.DataType:
    """The Arrow type to cast a frame column to before COPY into an existing column."""
    simple = {
        "int2": pa.int16(),
        "int4": pa.int32(),
        "int8": pa.int64(),
        "float4": pa.float32(),
        "float8": pa.float64(),
        "bool": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us"),
        "timestamptz": pa.timestamp("us", tz="UTC"),
    }
    if column.typname in simple:
        return simple[column.typname]
    if column.typname == "numeric":
        if column.typmod >= 4:
            precision, scale = ((column.typmod - 4) >> 16) & 0xFFFF, (column.typmod - 4) & 0xFFFF
            return pa.decimal128(precision, scale)
        return current if pa.types.is_decimal(current) else pa.decimal128(38, 9)
    if column.typname in {"text", "varchar", "bpchar", "name", "json"}:
        return current if not pa.types.is_null(current) else pa.string()
    if (
        column.typname.startswith("_")
        and column.elem_typname
        and (pa.types.is_list(current) or pa.types.is_large_list(current) or pa.types.is_null(current))
    ):
        elem = PgColumn("item", column.elem_typname, column.elem_typname, -1)
        value_type = current.value_type if not pa.types.is_null(current) else pa.null()
        return pa.list_(arrow_type_for_pg(elem, value_type))
    return current


def needs_sql_cast(column: PgColumn) -> bool:
    """Columns COPY binary cannot fill straight from Arrow (loaded through a cast instead)."""
    return column.typname not in {
        "int2", "int4", "int8", "float4", "float8", "bool", "date", "timestamp", "timestamptz",
        "numeric", "text", "varchar", "bpchar", "json", "bytea", "time",
    } and not (column.typname.startswith("_") and column.elem_typname in {"int2", "int4", "int8", "float4", "float8", "bool", "text", "date", "timestamp", "timestamptz", "varchar"})  # fmt: skip


def conform_to_table(table: pa.Table, columns: list[PgColumn], qualified_name: str) -> pa.Table:
    """Check a frame against an existing table and cast it to the table's types.

    Raises ``FrameTypeError`` naming the column and the table on a missing, extra or
    incompatible column.
    """
    by_name = {c.name: c for c in columns}
    frame_names = table.schema.names
    for name in frame_names:
        if name not in by_name:
            raise FrameTypeError(
                f"column {name!r} is not in table {qualified_name} (its columns: {', '.join(by_name)})"
            )
    for name in by_name:
        if name not in frame_names:
            raise FrameTypeError(f"column {name!r} of table {qualified_name} is missing from the frame")
    fields = []
    for field in table.schema:
        column = by_name[field.name]
        if not pa.types.is_null(field.type):
            have, want = _arrow_family(field), _pg_family(column)
            if have != want and (have, want) not in _COMPATIBLE:
                raise FrameTypeError(
                    f"column {field.name!r} of table {qualified_name} is {column.formatted} "
                    f"but the frame has {field.type}"
                )
        fields.append(pa.field(field.name, arrow_type_for_pg(column, field.type), metadata=field.metadata))
    schema = pa.schema(fields)
    if schema.equals(table.schema):
        return table
    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise FrameTypeError(
            f"frame does not fit table {qualified_name}: {str(exc).splitlines()[0]}"
        ) from None


# ---------------------------------------------------------------------------------------------
# Postgres (ADBC result) -> Arrow -> frame
# ---------------------------------------------------------------------------------------------
def _numeric_type(typmod: int) -> pa.DataType | None:
    if typmod >= 4:
        precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
        if precision <= 38:
            return pa.decimal128(precision, scale)
        return pa.decimal256(min(precision, 76), scale)
    return None


def _decimal_from_strings(strings: pa.ChunkedArray) -> pa.ChunkedArray:
    """Unconstrained numeric: find a scale that holds every value, else keep the text."""
    values = [None if v is None else Decimal(v) for v in strings.to_pylist()]
    finite = [v for v in values if v is not None and v.is_finite()]
    if len(finite) != sum(v is not None for v in values):
        return strings
    scale = max((max(0, -v.as_tuple().exponent) for v in finite), default=0)  # type: ignore[operator]
    digits = max((len(v.as_tuple().digits) - max(0, -v.as_tuple().exponent) for v in finite), default=1)  # type: ignore[operator]
    precision = max(1, digits) + scale
    if precision > 76:
        return strings
    target = pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    return pa.chunked_array([pa.array(values, type=target)])


def normalize_result(table: pa.Table) -> pa.Table:
    """Turn Postgres-specific Arrow extension columns into plain Arrow (decimal, string, JSON text)."""
    for idx, field in enumerate(table.schema):
        dtype = field.type
        if not isinstance(dtype, pa.BaseExtensionType):
            continue
        meta = field.metadata or {}
        pg_type = meta.get(b"POSTGRESQL:type", b"").decode()
        column = table.column(idx)
        storage = pa.chunked_array([chunk.storage for chunk in column.chunks], type=dtype.storage_type)
        new_field = pa.field(field.name, dtype.storage_type)
        if pg_type == "numeric":
            target = _numeric_type(int(meta.get(b"POSTGRESQL:typmod", b"-1")))
            storage = pc.cast(storage, target) if target is not None else _decimal_from_strings(storage)
            new_field = pa.field(field.name, storage.type)
        elif pg_type in {"json", "jsonb"}:
            new_field = _mark_json(pa.field(field.name, pa.string()))
            storage = pc.cast(storage, pa.string())
        elif pg_type == "uuid":
            storage = pa.chunked_array(
                [pa.array([None if v is None else str(v) for v in column.to_pylist()])]
            )
            new_field = pa.field(field.name, pa.string())
        table = table.set_column(idx, new_field, storage)
    return table


_NULLABLE_PANDAS = {
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


_ARROW_STRINGS = {
    pa.string(): pd.StringDtype("pyarrow"),
    pa.large_string(): pd.StringDtype("pyarrow"),
}


def arrow_to_pandas(table: pa.Table, arrow_strings: bool = False) -> pd.DataFrame:
    """An Arrow table (from :func:`normalize_result`) as a pandas frame.

    Text becomes ``object`` (Python str) by default, or ``string[pyarrow]`` with
    ``arrow_strings`` — much faster for large tables.
    """
    special: dict[str, Any] = {}
    for field, column in zip(table.schema, table.columns, strict=True):
        if is_json_field(field):
            special[field.name] = [None if v is None else json.loads(v) for v in column.to_pylist()]
        elif pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            special[field.name] = column.to_pylist()
        elif field.type in _NULLABLE_PANDAS and column.null_count > 0:
            special[field.name] = column.to_pandas(types_mapper=_NULLABLE_PANDAS.get).array
    plain = table.drop_columns(list(special)) if special else table
    df = plain.to_pandas(
        coerce_temporal_nanoseconds=True,
        split_blocks=True,
        types_mapper=_ARROW_STRINGS.get if arrow_strings else None,
    )
    if not special:
        return df
    for name, values in special.items():
        df[name] = pd.Series(values, index=df.index, dtype=object) if isinstance(values, list) else values
    return df[table.schema.names]


def arrow_to_polars(table: pa.Table) -> pl.DataFrame:
    """An Arrow table (from :func:`normalize_result`) as a polars frame; JSON decoded to structs.

    A JSON column polars cannot decode to one struct type (mixed shapes, scalars beside objects) stays
    JSON text, with a warning naming the column and the reason."""
    json_cols = [f.name for f in table.schema if is_json_field(f)]
    df = pl.from_arrow(table.replace_schema_metadata(None), rechunk=False)
    assert isinstance(df, pl.DataFrame)
    for name in json_cols:
        if df.height == 0 or df[name].null_count() == df.height:
            continue
        try:
            df = df.with_columns(df[name].str.json_decode(infer_schema_length=None))
        except (pl.exceptions.PolarsError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            logging.getLogger(__name__).warning("JSON column %r kept as text: polars cannot decode it (%s)", name, first)
    return df


def frame_schema(table: pa.Table) -> list[tuple[str, str]]:
    """(column, Postgres type) pairs describing an Arrow table, for metadata."""
    return [(f.name, pg_type_for(f)) for f in table.schema]
