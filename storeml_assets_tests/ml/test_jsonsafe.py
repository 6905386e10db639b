"""The one JSON sanitiser: plain JSON data from numpy, NaN, dates, decimals, durations and containers."""

import datetime as dt
import decimal
import json
import math

import numpy as np

from storeml_assets.jsonsafe import to_json, to_jsonable


def test_to_jsonable_turns_every_kind_into_plain_json() -> None:
    value = {
        1: np.float64(0.25),
        "nan": float("nan"),
        "inf": np.float32("inf"),
        "when": dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC),
        "day": dt.date(2026, 1, 2),
        "took": dt.timedelta(minutes=2),
        "price": decimal.Decimal("1.5"),
        "ids": (np.int64(3), [np.bool_(True)]),
        "array": np.array([1.0, np.nan]),
    }
    assert to_jsonable(value) == {
        "1": 0.25, "nan": None, "inf": None, "when": "2026-01-02T03:04:00+00:00", "day": "2026-01-02",
        "took": 120.0, "price": 1.5, "ids": [3, [True]], "array": [1.0, None],
    }


def test_to_json_is_strict_json() -> None:
    text = to_json({"b": float("nan"), "a": [math.inf]}, sort_keys=True)
    assert text == '{"a": [null], "b": null}'
    assert json.loads(text) == {"a": [None], "b": None}
