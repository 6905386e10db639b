"""JSON columns read from Postgres: decoded to structs when they have one shape, else kept as text, said."""

from __future__ import annotations

import logging

import polars as pl
import pyarrow as pa
import pytest

from storeml_assets.io.arrow_types import JSON_MARK, arrow_to_polars

FIELD = pa.field("attributes", pa.string(), metadata={JSON_MARK: b"1"})


def test_one_shape_decodes_to_a_struct() -> None:
    frame = arrow_to_polars(pa.table([pa.array(['{"size": 1}', '{"size": 2}'])], schema=pa.schema([FIELD])))
    assert isinstance(frame.schema["attributes"], pl.Struct)
    assert frame.get_column("attributes").struct.field("size").to_list() == [1, 2]


def test_mixed_shapes_stay_text_with_a_warning_naming_the_column(caplog: pytest.LogCaptureFixture) -> None:
    values = ['{"size": 1}', "[1, 2]", "3"]
    with caplog.at_level(logging.WARNING, logger="storeml_assets.io.arrow_types"):
        frame = arrow_to_polars(pa.table([pa.array(values)], schema=pa.schema([FIELD])))
    assert frame.get_column("attributes").to_list() == values
    assert any("'attributes' kept as text" in record.getMessage() for record in caplog.records), caplog.text
