"""Serving a family in its own terms: an ``mlflow.pyfunc`` champion fed the request's instances as a frame.

The families of :data:`storeml_assets.lifecycle.registry.GENERIC_FAMILIES` (review sentiment,
segmentation, recommendations, demand forecasts) each log an ``mlflow.pyfunc`` model with a signature
inferred from its input example. Their instances are checked against that signature (a required column
missing, an unknown column, a value of the wrong type: an :class:`InstanceError` naming it, answered
422), passed to ``predict`` as one frame, and its output rows returned as plain JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from storeml_assets.jsonsafe import to_jsonable
from storeml_assets.serving.families import InstanceError

#: MLflow column types whose values are numbers, and those whose values are text.
_NUMERIC_TYPES = frozenset({"integer", "long", "float", "double"})
_TEXT_TYPES = frozenset({"string"})
#: MLflow column types a JSON integer is given to as a float (MLflow refuses int64 for them).
_FLOAT_TYPES = frozenset({"float", "double"})


def load_pyfunc_dir(path: Path) -> Any:
    """The ``mlflow.pyfunc`` model of a downloaded MLflow model folder."""
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(str(path))


def input_columns(model: Any) -> list[tuple[str, str, bool]]:
    """``(name, type, required)`` of each column of the model's input signature ([] without one)."""
    schema = model.metadata.get_input_schema()
    if schema is None or not schema.has_input_names():
        return []
    columns = []
    for spec in schema.inputs:
        kind = getattr(spec.type, "name", str(spec.type))
        columns.append((str(spec.name), str(kind), bool(getattr(spec, "required", True))))
    return columns


def validate(model: Any, instances: Sequence[Mapping[str, Any]]) -> None:
    """Raise an :class:`InstanceError` naming the first instance field that does not fit the model's signature."""
    columns = input_columns(model)
    known = {name for name, _, _ in columns}
    for index, instance in enumerate(instances):
        for name, kind, required in columns:
            if required and name not in instance:
                raise InstanceError(("body", "instances", index, name), f"field required: {name!r}")
            value = instance.get(name)
            if value is None:
                continue
            if kind in _NUMERIC_TYPES and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise InstanceError(("body", "instances", index, name), f"must be a number ({kind})")
            if kind in _TEXT_TYPES and not isinstance(value, str):
                raise InstanceError(("body", "instances", index, name), "must be a string")
        for name, value in instance.items():
            if known and name not in known:
                expected = ", ".join(sorted(known))
                raise InstanceError(("body", "instances", index, name), f"unknown field {name!r} (expected: {expected})")
            if isinstance(value, float) and not math.isfinite(value):
                raise InstanceError(("body", "instances", index, name), "must be a finite number")
            if isinstance(value, str) and "\x00" in value:  # no PostgreSQL text or jsonb can hold it
                raise InstanceError(("body", "instances", index, name), "must not contain a NUL character")


def build_frame(model: Any, instances: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Validated instances as a frame: the signature's columns in order (optional ones only when given), a
    float column as floats (``{"customer_id": 5}`` for a ``double`` column)."""
    columns = input_columns(model)
    if not columns:
        return pd.DataFrame.from_records(list(instances))
    given = {name for instance in instances for name in instance}
    names = [name for name, _, required in columns if required or name in given]
    frame = pd.DataFrame.from_records(list(instances), columns=names)
    for name, kind, _ in columns:
        if kind in _FLOAT_TYPES and name in frame.columns:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float32" if kind == "float" else "float64")
    return frame


def output_rows(output: Any) -> list[dict[str, Any]]:
    """``predict``'s output (a frame, series, array or list) as JSON-safe rows."""
    if isinstance(output, pd.DataFrame):
        return [to_jsonable(row) for row in output.to_dict("records")]
    if isinstance(output, pd.Series):
        output = output.tolist()
    values = to_jsonable(output)
    if not isinstance(values, list):
        values = [values]
    return [v if isinstance(v, dict) else {"prediction": v} for v in values]


def predict(model: Any, instances: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The model's answer to the validated ``instances``; a ``ValueError`` when the model refuses them."""
    from mlflow.exceptions import MlflowException

    frame = build_frame(model, instances)
    try:
        output = model.predict(frame)
    except MlflowException as exc:  # schema enforcement of pyfunc: a column of the wrong type or shape
        raise ValueError(exc.message) from exc
    return output_rows(output)


def log_pairs(instances: Sequence[Mapping[str, Any]],
              outputs: Sequence[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """Inputs and outputs for the prediction log: row by row when the model answers one row per instance,
    else the whole request as one prediction (recommendations and forecasts answer several rows each)."""
    if len(instances) == len(outputs):
        return list(instances), list(outputs)
    return [{"instances": list(instances)}], [{"rows": list(outputs), "confidence": None}]
