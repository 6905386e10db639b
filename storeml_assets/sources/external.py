"""A real storefront's tables as storeml reads them: the contract, absent tables, and text or UUID ids.

- **The contract** is the DDL in ``sql/<service database>/`` (the simulator's storefront). Its column
  types are read once per process by applying that DDL to a throw-away schema of the ``storeml``
  database inside a transaction that is rolled back (nothing is left behind, nothing is written to a
  storefront database).
- **An absent table** (a storefront without carts, promotions, wishlists, sessions, interactions or
  reviews) is extracted as an empty table of the contract's columns, so everything downstream sees
  "0 rows" and whatever depends on it skips itself with that reason, instead of the run failing.
- **A column the contract names but the table lacks** is added as nulls of the contract's type (the
  checks and ``storeml doctor`` report it); extra columns are kept.
- **Text or UUID ids**: every ``*_id`` column holding text is replaced by a stable 63-bit integer (the
  first 8 bytes of the md5 of the text), so references across tables and databases still match and
  the integer-keyed warehouse and features work unchanged. The original text of the table's own key
  is kept beside it as ``<column>_text``.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
from psycopg2 import sql

from storeml_assets.io.arrow_types import _mark_json
from storeml_assets.sources.catalog import SourceTable

#: Suffix of the column keeping a text primary key's original value.
TEXT_ID_SUFFIX = "_text"

_SIMPLE_TYPES: dict[str, pa.DataType] = {
    "int2": pa.int16(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "text": pa.string(),
    "varchar": pa.string(),
    "bpchar": pa.string(),
    "uuid": pa.string(),
    "inet": pa.string(),
}


def arrow_field(name: str, udt: str, precision: int | None, scale: int | None) -> pa.Field:
    """The Arrow field the extract produces for a Postgres column of type ``udt``."""
    if udt in _SIMPLE_TYPES:
        return pa.field(name, _SIMPLE_TYPES[udt])
    if udt == "numeric":
        if precision is not None:
            return pa.field(name, pa.decimal128(precision, scale or 0))
        return pa.field(name, pa.decimal128(38, 9))
    if udt in {"json", "jsonb"}:
        return _mark_json(pa.field(name, pa.string()))
    if udt.startswith("_"):
        return pa.field(name, pa.list_(arrow_field("item", udt[1:], None, None).type))
    return pa.field(name, pa.string())


def _ddl_files(sql_dir: Path, database: str) -> list[Path]:
    return sorted((sql_dir / database).glob("*.sql"))


@functools.lru_cache(maxsize=4)
def contract(sql_dir: str, storeml_url: str) -> dict[str, pa.Schema]:
    """Table name -> the Arrow schema of the contract, for every table of every service's DDL."""
    from storeml_assets.db.locator import connection
    from storeml_assets.settings import SOURCE_DATABASES

    schemas: dict[str, pa.Schema] = {}
    with connection(storeml_url, application_name="storeml-contract") as conn, conn.cursor() as cur:
        for database in SOURCE_DATABASES:
            scratch = f"storeml_contract_{database}"
            cur.execute(sql.SQL("create schema {}").format(sql.Identifier(scratch)))
            cur.execute(sql.SQL("set local search_path to {}").format(sql.Identifier(scratch)))
            for path in _ddl_files(Path(sql_dir), database):
                cur.execute(path.read_text())
            cur.execute(
                "select c.table_name, c.column_name, c.udt_name, c.numeric_precision, c.numeric_scale "
                "from information_schema.columns c join information_schema.tables t "
                "on t.table_schema = c.table_schema and t.table_name = c.table_name and t.table_type = 'BASE TABLE' "
                "where c.table_schema = %s order by c.table_name, c.ordinal_position",
                (scratch,),
            )
            fields: dict[str, list[pa.Field]] = {}
            for table, column, udt, precision, scale in cur.fetchall():
                fields.setdefault(table, []).append(arrow_field(column, udt, precision, scale))
            schemas.update({table: pa.schema(columns) for table, columns in fields.items()})
        conn.rollback()
    return schemas


def contract_schema(table: SourceTable) -> pa.Schema:
    """The contract's columns of ``table`` (the extract of a child table also carries its parent's event time)."""
    from storeml_assets.db.locator import database_url
    from storeml_assets.settings import get_settings

    settings = get_settings()
    schemas = contract(str(settings.sql_dir), database_url("storeml", settings))
    if table.name not in schemas:
        raise ValueError(f"source table {table.name!r} has no DDL under {settings.sql_dir / table.database}")
    schema = schemas[table.name]
    if table.event_time_from is not None:
        from storeml_assets.sources.catalog import CATALOG

        parent = CATALOG[table.event_time_from[0]]
        assert parent.event_time is not None
        if parent.event_time not in schema.names:
            schema = schema.append(schemas[parent.name].field(parent.event_time))
    return schema


def empty_table(table: SourceTable) -> pa.Table:
    """An absent source table: no rows, the contract's columns."""
    return contract_schema(table).empty_table()


def add_missing_columns(table: SourceTable, data: pa.Table) -> tuple[pa.Table, list[str]]:
    """``data`` with every contract column it lacks added as nulls; also the names added."""
    added: list[str] = []
    for field in contract_schema(table):
        if field.name not in data.column_names:
            data = data.append_column(field, pa.nulls(data.num_rows, type=field.type))
            added.append(field.name)
    return data, added


def surrogate_id(text: str) -> int:
    """A stable non-negative 63-bit integer for a text id (the same text gives the same number everywhere)."""
    return int.from_bytes(hashlib.md5(text.encode()).digest()[:8], "big") >> 1


def integer_ids(table: SourceTable, data: pa.Table) -> tuple[pa.Table, list[str]]:
    """``data`` with every text ``*_id`` column replaced by its :func:`surrogate_id`; also the names converted.

    The table's own single-column key keeps its text beside it as ``<column>_text``.
    """
    converted: list[str] = []
    for index, field in enumerate(data.schema):
        if not field.name.endswith("_id") or not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        column = data.column(index).combine_chunks()
        texts = column.to_pylist()
        uniques = {value: surrogate_id(value.strip()) for value in set(texts) if value is not None}
        mask = np.array([value is None for value in texts], dtype=bool)
        values = np.array([0 if value is None else uniques[value] for value in texts], dtype=np.int64)
        data = data.set_column(index, pa.field(field.name, pa.int64()), pa.array(values, mask=mask))
        if table.primary_key == (field.name,):
            data = data.append_column(pa.field(field.name + TEXT_ID_SUFFIX, pa.string()), column)
        converted.append(field.name)
    return data, converted
