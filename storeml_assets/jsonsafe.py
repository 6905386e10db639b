"""The one JSON sanitiser: any value storeml writes as JSON (jsonb, metadata, artifacts, CLI output).

:func:`to_jsonable` turns a value into plain JSON data: mappings to ``dict`` with string keys,
sequences to lists, numpy scalars and arrays to Python values, NaN and infinities to ``None``,
dates and times to ISO text, durations to seconds, decimals to floats, paths to text.
:func:`to_json` is strict JSON text of the same (never ``NaN``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (see the module docstring); unknown objects are returned as they are."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy scalar or array
        return to_jsonable(value.tolist())
    if isinstance(value, decimal.Decimal):
        value = float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, PurePath):
        return str(value)
    return value


def to_json(value: Any, *, sort_keys: bool = False) -> str:
    """Strict JSON text of :func:`to_jsonable` (``value``); an object JSON has no form for becomes its text."""
    return json.dumps(to_jsonable(value), allow_nan=False, default=str, sort_keys=sort_keys)
