"""The families the API serves: an adapter over the lifecycle registry.

The registry (:data:`storeml_assets.lifecycle.registry.FAMILIES`) declares each family's name,
registered model name, serving signature, which signature columns are categorical, the table and id
column of id lookups and the output kind (:class:`~storeml_assets.lifecycle.family.ModelFamily`);
serving turns them into request validation, id lookups and responses (plain functions, no web framework).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from storeml_assets.lifecycle.family import ModelFamily
from storeml_assets.lifecycle.generic import GenericFamily, IdLookup


class InstanceError(ValueError):
    """An instance does not fit the family's signature; ``loc`` names the offending field."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


@dataclass(frozen=True)
class IdSource:
    """Where the latest feature rows of an id live: ``schema.table``, the id column, the recency column."""

    schema: str
    table: str
    id_column: str
    order_column: str


@dataclass(frozen=True)
class ServedFamily:
    """One served family: its name, registered model, signature and (optionally) its id source."""

    name: str
    registered_model: str
    signature: tuple[str, ...]
    numeric: frozenset[str]
    id_source: IdSource | None = None
    #: One of :data:`storeml_assets.lifecycle.family.OUTPUT_KINDS`.
    output_kind: str = "binary"
    #: How the champion is loaded and asked: ``"sklearn"`` (the native estimator, micro-batched) or
    #: ``"pyfunc"`` (an ``mlflow.pyfunc`` model in its family's own terms, :mod:`storeml_assets.serving.generic`).
    flavor: str = "sklearn"
    #: Whether readiness waits for this family's champion; an optional family without a champion in the
    #: registry is reported as such and does not hold readiness back.
    required: bool = True
    #: A family in its own terms: how customer ids become its instances (None: inline instances only).
    id_lookup: IdLookup | None = None

    @property
    def takes_ids(self) -> bool:
        """Whether the family answers ``{"customer_ids": [...]}``."""
        return self.id_source is not None or self.id_lookup is not None

    @property
    def id_columns(self) -> tuple[str, ...]:
        """The columns an id lookup reads from :attr:`id_source`."""
        return self.id_lookup.columns if self.id_lookup is not None else self.signature

    def id_instances(self, ids: Sequence[int], found: Mapping[int, Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The instances of ``ids``: the rows found (every id has one when there is an id source), and for a
        family in its own terms its fixed fields and the id itself."""
        if self.id_lookup is None:
            return [dict(found[i]) for i in ids]
        lookup = self.id_lookup
        return [{**lookup.fields, lookup.id_field: i, **found.get(i, {})} for i in ids]

    def frame(self, instances: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """The instances as a frame in signature order; an :class:`InstanceError` names the bad field."""
        self.validate(instances)
        return self.build_frame(instances)

    def validate(self, instances: Sequence[Mapping[str, Any]]) -> None:
        """Raise an :class:`InstanceError` naming the first field that does not fit the signature."""
        for index, instance in enumerate(instances):
            missing = [c for c in self.signature if c not in instance]
            if missing:
                raise InstanceError(("body", "instances", index, missing[0]), f"field required: {missing[0]!r}")
            unknown = [c for c in instance if c not in self.signature]
            if unknown:
                raise InstanceError(("body", "instances", index, unknown[0]), f"unknown feature {unknown[0]!r}")
            for column in self.signature:
                value = instance[column]
                if column in self.numeric:
                    if isinstance(value, bool) or not (value is None or isinstance(value, int | float)):
                        raise InstanceError(("body", "instances", index, column), "must be a number or null")
                    if isinstance(value, float) and not math.isfinite(value):
                        raise InstanceError(("body", "instances", index, column), "must be a finite number")
                elif not (value is None or isinstance(value, str)):
                    raise InstanceError(("body", "instances", index, column), "must be a string or null")
                elif value is not None and "\x00" in value:  # no PostgreSQL text or jsonb can hold it
                    raise InstanceError(("body", "instances", index, column), "must not contain a NUL character")

    def build_frame(self, instances: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """Validated instances as a frame in signature order."""
        frame = pd.DataFrame.from_records(list(instances), columns=list(self.signature))
        for column in self.numeric:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
        return frame


def predict(model: Any, frame: pd.DataFrame, output_kind: str = "binary") -> list[dict[str, Any]]:
    """Per row: the predicted class, the class probabilities, the positive score (binary) and the confidence;
    the predicted number alone for ``regression`` (or a model without ``predict_proba``)."""
    from storeml_assets.ml.train import decision_threshold

    if output_kind == "regression" or not hasattr(model, "predict_proba"):
        return [{"prediction": _plain(v), "confidence": None} for v in np.asarray(model.predict(frame)).tolist()]
    probabilities = np.asarray(model.predict_proba(frame), dtype=float)
    classes = [_plain(c) for c in getattr(model, "classes_", range(probabilities.shape[1]))]
    outputs: list[dict[str, Any]] = []
    if output_kind == "binary" and probabilities.shape[1] == 2:
        threshold = decision_threshold(model)
        for row in probabilities:
            score = float(row[1])
            label = classes[1] if score >= threshold else classes[0]
            outputs.append({"prediction": label, "score": score, "confidence": float(max(row)),
                            "probabilities": {str(c): float(p) for c, p in zip(classes, row, strict=True)}})
        return outputs
    for row in probabilities:
        best = int(np.argmax(row))
        outputs.append({"prediction": classes[best], "confidence": float(row[best]),
                        "probabilities": {str(c): float(p) for c, p in zip(classes, row, strict=True)}})
    return outputs


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _id_source(family: ModelFamily) -> IdSource | None:
    """Where id lookups read the family's latest feature rows (None: inline features only)."""
    if family.lookup_key is None:
        return None
    schema, table = family.lookup_key.path
    return IdSource(schema=schema, table=table, id_column=family.lookup_id_column,
                    order_column=family.lookup_order_column)


def served_family(family: ModelFamily) -> ServedFamily:
    """The family as served: its declared numeric columns, id source and output kind."""
    return ServedFamily(
        name=family.name,
        registered_model=family.name,
        signature=tuple(family.signature),
        numeric=frozenset(family.numeric_columns),
        id_source=_id_source(family),
        output_kind=family.output_kind,
    )


def served_generic_family(family: GenericFamily) -> ServedFamily:
    """A family in its own terms as served: its ``mlflow.pyfunc`` champion's signature checks the instances,
    customer ids become instances as the family declares (:class:`~storeml_assets.lifecycle.generic.IdLookup`),
    and readiness does not wait for it."""
    lookup = family.id_lookup
    source = None
    if lookup is not None and lookup.table is not None:
        schema, table = lookup.table.split(".")
        source = IdSource(schema=schema, table=table, id_column=lookup.id_field, order_column=lookup.order_column)
    return ServedFamily(name=family.name, registered_model=family.name, signature=(), numeric=frozenset(),
                        output_kind="pyfunc", flavor="pyfunc", required=False, id_source=source, id_lookup=lookup)


def registered_families() -> tuple[ServedFamily, ...]:
    """Every family of the lifecycle registry, as served: the binary classifiers, then the generic families."""
    from storeml_assets.lifecycle.registry import FAMILIES, GENERIC_FAMILIES

    return (tuple(served_family(f) for f in FAMILIES)
            + tuple(served_generic_family(f) for f in GENERIC_FAMILIES))
