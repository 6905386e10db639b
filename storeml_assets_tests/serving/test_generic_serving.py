"""Serving in a family's own terms without a server: an ``mlflow.pyfunc`` model saved with a signature (one
required text column, one optional number) checks instances, answers several rows per instance, and the
prediction log keeps such a request as one prediction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature
from mlflow.pyfunc import PythonModel

from storeml_assets.serving import generic
from storeml_assets.serving.families import InstanceError


class TopTwo(PythonModel):
    """Two ranked rows per request, like the recommendations family; refuses an unknown kind."""

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        rows = []
        for position, row in enumerate(model_input.to_dict("records")):
            if row["kind"] not in {"customer", "similar"}:
                raise ValueError(f"row {position}: unknown kind {row['kind']!r}")
            base = 0.0 if pd.isna(row.get("product_id")) else float(row["product_id"])
            rows += [{"request": position, "rank": rank, "product_id": np.int64(base + rank)} for rank in (1, 2)]
        return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("pyfunc") / "model"
    example = pd.DataFrame({"kind": ["customer", "similar"], "product_id": [float("nan"), 7.0]})
    mlflow.pyfunc.save_model(str(path), python_model=TopTwo(), input_example=example,
                             signature=infer_signature(example))  # the input's signature only
    return generic.load_pyfunc_dir(Path(path))


def test_the_signature_names_its_columns(model: Any) -> None:
    assert generic.input_columns(model) == [("kind", "string", True), ("product_id", "double", False)]


@pytest.mark.parametrize(("instance", "loc", "message"), [
    ({"product_id": 3}, "kind", "field required: 'kind'"),
    ({"kind": 3}, "kind", "must be a string"),
    ({"kind": "similar", "product_id": "7"}, "product_id", "must be a number (double)"),
    ({"kind": "similar", "sku": "A-1"}, "sku", "unknown field 'sku' (expected: kind, product_id)"),
    ({"kind": "similar", "product_id": float("inf")}, "product_id", "must be a finite number"),
])
def test_instances_are_checked_against_the_signature(model: Any, instance: dict[str, Any], loc: str,
                                                     message: str) -> None:
    with pytest.raises(InstanceError) as error:
        generic.validate(model, [{"kind": "customer"}, instance])
    assert (error.value.loc, error.value.message) == (("body", "instances", 1, loc), message)


def test_several_rows_per_instance_are_answered_and_logged_as_one_prediction(model: Any) -> None:
    instances: list[dict[str, Any]] = [{"kind": "customer"}, {"kind": "similar", "product_id": 7}]
    generic.validate(model, instances)
    rows = generic.predict(model, instances)
    assert rows == [{"request": 0, "rank": 1, "product_id": 1}, {"request": 0, "rank": 2, "product_id": 2},
                    {"request": 1, "rank": 1, "product_id": 8}, {"request": 1, "rank": 2, "product_id": 9}]
    assert all(type(row["product_id"]) is int for row in rows)
    inputs, outputs = generic.log_pairs(instances, rows)
    assert inputs == [{"instances": instances}] and outputs == [{"rows": rows, "confidence": None}]
    one_each = rows[::2]
    assert generic.log_pairs(instances, one_each) == (instances, one_each)


def test_a_refusal_by_the_model_is_a_value_error_naming_it(model: Any) -> None:
    with pytest.raises(ValueError, match="row 0: unknown kind 'gift'"):
        generic.predict(model, [{"kind": "gift"}])
