"""Serving reads each family's declared serving metadata: numeric/categorical columns, id lookup, output kind."""

from __future__ import annotations

import dataclasses

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from storeml_assets.features.customer import FEATURE_SPEC
from storeml_assets.models.purchase_propensity import FAMILY
from storeml_assets.serving.families import IdSource, InstanceError, predict, served_family


def test_purchase_propensity_declares_its_serving_metadata() -> None:
    served = served_family(FAMILY)
    assert served.numeric == frozenset(FEATURE_SPEC.numeric)
    assert set(FAMILY.categorical_columns) == set(FEATURE_SPEC.categorical)
    assert served.id_source == IdSource(schema="features", table="customer_features", id_column="customer_id",
                                        order_column="cutoff")
    assert served.output_kind == "binary"


def test_a_family_is_served_as_it_declares() -> None:
    family = dataclasses.replace(
        FAMILY, name="basket_size", signature=("items", "channel"), drift_columns=("items",), segment_columns=(),
        categorical_columns=("channel",), lookup_key=dg.AssetKey(["features", "basket_features"]),
        lookup_id_column="basket_id", lookup_order_column="as_of", output_kind="regression",
    )
    served = served_family(family)
    assert served.numeric == frozenset({"items"})
    assert served.id_source == IdSource("features", "basket_features", "basket_id", "as_of")
    assert served.output_kind == "regression"
    served.validate([{"items": 3, "channel": "web"}])
    with pytest.raises(InstanceError, match="must be a string or null"):
        served.validate([{"items": 3, "channel": 4}])
    with pytest.raises(InstanceError, match="must be a number or null"):
        served.validate([{"items": "three", "channel": "web"}])
    with pytest.raises(InstanceError, match="must not contain a NUL character") as nul:
        served.validate([{"items": 1, "channel": "web"}, {"items": 3, "channel": "w\x00b"}])
    assert nul.value.loc == ("body", "instances", 1, "channel")
    inline_only = served_family(dataclasses.replace(family, lookup_key=None))
    assert inline_only.id_source is None


@pytest.mark.parametrize(("change", "message"), [
    ({"categorical_columns": ("nope",)}, "categorical column 'nope' is not in its signature"),
    ({"output_kind": "ranking"}, "output_kind must be one of binary, multiclass, regression, got 'ranking'"),
    ({"lookup_key": dg.AssetKey(["customer_features"])}, "lookup_key must be schema/table, got 'customer_features'"),
])
def test_bad_serving_metadata_is_refused_naming_it(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(FAMILY, **change)


def test_predict_follows_the_output_kind() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(size=200)})
    labels = (frame["x"] > 0).astype(int)
    regression = LinearRegression().fit(frame, frame["x"] * 2.0)
    assert predict(regression, frame.head(2), "regression") == [
        {"prediction": pytest.approx(v), "confidence": None} for v in (frame["x"].head(2) * 2.0)
    ]
    classifier = LogisticRegression().fit(frame, labels)
    binary = predict(classifier, frame.head(1), "binary")[0]
    multiclass = predict(classifier, frame.head(1), "multiclass")[0]
    assert "score" in binary and "score" not in multiclass
    assert multiclass["probabilities"] == pytest.approx(binary["probabilities"])
    assert predict(classifier, frame.head(1), "regression")[0]["prediction"] in (0, 1)
