"""A model family in its own terms: the lifecycle of every family that is not a binary classifier over
customer features (review sentiment, customer segmentation, recommendations, demand forecasting).

A :class:`GenericFamily` declares what it reads, how it prepares a train/holdout split, fits,
evaluates (metrics beside baselines and the simulator's oracle, measured in the same run), judges
its six gates, writes its output table and measures drift. :mod:`storeml_assets.lifecycle.assets`
turns it into one asset group::

    <tables> -> models/<name> -> promotion/<name>_decision -> features/<output table>
                                                          \\-> monitoring/<name>_drift

- ``models/<name>``: prepare, fit, evaluate; log params, metrics, plots and the model (an
  ``mlflow.pyfunc.PythonModel`` with signature and input example) to MLflow; register the version
  as ``challenger``; insert it into ``mlops.model_versions``. When the data cannot support the
  family (:class:`Skip`), nothing downstream runs and the run says why; the rest of the graph runs.
- ``promotion/<name>_decision``: the candidate and the champion evaluated on the same holdout,
  the family's six gates, then promote (alias ``champion``) or reject, recorded in ``mlops``.
- the output table, scored by the champion; the drift asset, into ``mlops.monitoring_metrics``.

The model object a family's ``fit`` returns is the MLflow model: an ``mlflow.pyfunc.PythonModel``
whose ``predict(context, model_input, params=None)`` serves a DataFrame of inputs, and which
``evaluate``/``score`` receive again, unwrapped, when the champion is loaded from the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import pandas as pd
import polars as pl

from storeml_assets.ml.gates import GateResult


class Skip(Exception):
    """The data cannot support the family, e.g. ``reviews has 0 rows < 200 (sentiment analysis needs
    reviews)``: the family is skipped with this reason, the rest of the graph runs."""


def require_rows(frames: Mapping[str, pl.DataFrame], table: str, minimum: int, purpose: str) -> pl.DataFrame:
    """``frames[table]`` when it holds at least ``minimum`` rows, else :class:`Skip` naming the table,
    its row count, the minimum and the purpose (``reviews has 0 rows < 200 (sentiment analysis needs reviews)``)."""
    frame = frames.get(table)
    if frame is None:
        raise Skip(f"{table} is missing ({purpose})")
    if frame.height < minimum:
        raise Skip(f"{table} has {frame.height} rows < {minimum} ({purpose})")
    return frame


@dataclass
class Prepared:
    """A family's data for one training attempt: a train and a holdout part in the family's own shape."""

    train: Any
    holdout: Any
    #: Rows (reviews, customers, interactions, series-days) the model is fitted on (gate data_volume).
    training_rows: int
    #: First and last instant the training data covers (``mlops.model_versions.training_window_*``).
    window: tuple[Any, Any] | None = None
    #: Anything else evaluation or drift needs (reference statistics, the cutoff, the truth...).
    extra: dict[str, Any] = field(default_factory=dict)
    #: MLflow params known only once the data is prepared (e.g. a setting read at run time).
    params: dict[str, Any] = field(default_factory=dict)


#: Key of :attr:`Prepared.extra` under which the decision step hands the family the candidate's
#: :class:`Evaluation` (as the candidate step stored it) before it evaluates the champion on the same data: a
#: family whose figures partly do not depend on the fitted model may take them from there when they were
#: measured on the same data, instead of measuring them again.
CANDIDATE_EVALUATION = "candidate_evaluation"


@dataclass
class Evaluation:
    """A model's holdout figures in its family's terms, beside the baselines and the oracle."""

    #: Metric name -> value of the model on the holdout (finite floats; NaN when undefined).
    metrics: dict[str, float]
    #: Baseline name -> its metrics on the same holdout, measured in the same run.
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    #: The planted truth's figures (the oracle's metrics) when the simulator wrote one, else None.
    oracle: dict[str, float] | None = None
    #: Why there is no oracle (external sources, a holdout the truth does not cover...).
    oracle_reason: str = ""
    #: JSON detail: per-class F1 and confusion matrix, segment profile, per-category figures...
    details: dict[str, Any] = field(default_factory=dict)
    #: Markdown shown in the UI (confusion matrix, segment profile, metric table).
    markdown: str = ""
    #: PNG (or other) files logged to MLflow under ``evaluation/``.
    plots: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class GateContext:
    """Everything a family's gates judge."""

    candidate: Evaluation
    #: The champion scored on the same holdout, or None (bootstrap).
    champion: Evaluation | None
    training_rows: int
    #: Blocking checks upstream that failed (gate ``data_volume`` fails on any).
    failed_checks: list[str]
    #: Drift between the candidate's training data and the current data (:attr:`GenericFamily.drift`).
    drift: DriftResult
    #: Why the candidate is the champion's data and code again, or None (gate ``no_regression`` fails on it).
    identical_to_champion: str | None
    #: Gate thresholds: the family's :attr:`GenericFamily.gate_defaults`, overridden by the run config.
    thresholds: Mapping[str, float]


@dataclass(frozen=True)
class DriftResult:
    """Drift in a family's terms: named measures, the share of them that drifted, and a one-line verdict."""

    #: Measure name -> value (text length shift, vocabulary share, class-mix distance, catalogue churn...).
    measures: dict[str, float]
    #: Names of the measures past their threshold.
    drifted: list[str]
    #: Share of the measures that drifted (None when not judged).
    share: float | None
    #: False when there was not enough data to judge (the gate then passes with :attr:`reason`).
    judged: bool
    reason: str


@dataclass(frozen=True)
class ServedInputs:
    """How served-prediction monitoring compares a family's served inputs with the data it trains on:
    ``reference_sql`` selects rows of that data, and ``derive`` turns a frame of inputs (the served
    instances, or the reference rows) into the numeric ``columns`` compared (None: compared as they are)."""

    #: A query of the storeml database returning reference rows (a missing table: not compared).
    reference_sql: str
    #: The compared columns, after ``derive``.
    columns: tuple[str, ...]
    derive: Callable[[pd.DataFrame], pd.DataFrame] | None = None


@dataclass(frozen=True)
class IdLookup:
    """How the serving API answers ``{"customer_ids": [...]}`` for a family: each id becomes the instance
    ``{**fields, id_field: id, **row}``, where ``row`` is the newest row of the id in ``table`` (its
    ``columns``; an id without a row is not found), or nothing when ``table`` is None (no read: the model
    answers an id it does not know as it answers any unknown id)."""

    #: ``"schema.table"`` whose newest row per id gives the instance's columns, or None (no read).
    table: str | None = None
    #: The id column of ``table``, and the instance field the id goes into.
    id_field: str = "customer_id"
    #: The column of ``table`` whose largest value marks an id's newest row.
    order_column: str = "cutoff"
    #: Columns of ``table`` copied into the instance.
    columns: tuple[str, ...] = ()
    #: Fixed instance fields (e.g. ``{"kind": "customer"}``).
    fields: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.table is not None and self.table.count(".") != 1:
            raise ValueError(f"id lookup table must be schema.table, got {self.table!r}")
        if self.table is not None and not self.columns:
            raise ValueError(f"id lookup of {self.table}: name the columns it reads")


@dataclass(frozen=True)
class GenericFamily:
    """One model family of the storefront in its own terms (see the module docstring)."""

    #: Registered model name (MLflow and ``mlops``), a Python identifier.
    name: str
    #: The asset group the family's assets live in (shown in the UI).
    group: str
    #: One line of business meaning (the candidate asset's description).
    description: str
    #: What the family is for, completing "<table> has N rows < M (<purpose>)" in skip reasons.
    purpose: str
    #: ``"schema.table"`` -> the columns the family reads (over ADBC, as polars frames keyed by table name;
    #: each is also an upstream dependency ``schema/table``). A table that does not exist is absent from
    #: the frames: ``prepare`` decides whether that means :class:`Skip`.
    tables: Mapping[str, tuple[str, ...]]
    #: Table name -> the fewest rows the family can learn from. Checked before ``prepare`` (a table below its
    #: minimum or missing skips the family with :func:`require_rows`'s reason) and by ``storeml doctor``.
    requires: Mapping[str, int]
    #: ``prepare(frames, seed) -> Prepared``; raises :class:`Skip` when the data cannot support the family.
    prepare: Callable[[Mapping[str, pl.DataFrame], int], Prepared]
    #: ``fit(prepared, seed) -> model`` (an ``mlflow.pyfunc.PythonModel``).
    fit: Callable[[Prepared, int], Any]
    #: ``evaluate(model, prepared) -> Evaluation`` on the holdout, with baselines and oracle.
    evaluate: Callable[[Any, Prepared], Evaluation]
    #: ``gates(ctx) -> six GateResult`` in the family's terms (data_volume, performance_floor,
    #: no_regression, calibration, data_drift, and a consistency gate); see :mod:`storeml_assets.lifecycle.gates`.
    gates: Callable[[GateContext], list[GateResult]]
    #: Default gate thresholds (name -> number), each overridable in the decision's run config.
    gate_defaults: Mapping[str, float]
    #: ``drift(prepared, frames_now) -> DriftResult``: the training data of ``prepared`` against now.
    drift: Callable[[Prepared, Mapping[str, pl.DataFrame]], DriftResult]
    #: ``output(model, frames, version) -> frame`` written to :attr:`output_key` (scored by the champion).
    output: Callable[[Any, Mapping[str, pl.DataFrame], str], pl.DataFrame]
    #: ``features/<table>`` the output goes to.
    output_key: dg.AssetKey
    #: ``input_example(prepared) -> DataFrame``: a few rows of serving input (MLflow signature and example).
    input_example: Callable[[Prepared], pd.DataFrame]
    #: Metric name -> True when higher is better; the headline metrics of the demo line come first.
    metrics: Mapping[str, bool]
    #: The metric ``no_regression`` compares and the demo summary leads with.
    primary_metric: str
    #: Code version of the training; a new one gives the retraining sensor a reason to train again.
    code_version: str = "1"
    #: Extra MLflow params describing the family.
    params: Mapping[str, Any] = field(default_factory=dict)
    kinds: frozenset[str] = frozenset({"mlflow"})
    #: Serving notes: what ``predict`` accepts and returns. The API serves every registered family whose
    #: champion exists, checking instances against the model's logged signature (:mod:`storeml_assets.serving.generic`).
    serving: Mapping[str, Any] | None = None
    #: Whether and how the API takes ``customer_ids`` for the family (None: inline instances only).
    id_lookup: IdLookup | None = None
    #: The output column whose values are the served class (its mix is monitored), or None.
    served_class: str | None = None
    #: How the served inputs are compared with the training data (None: requests of ids or series names,
    #: whose distribution says nothing of the features).
    served_inputs: ServedInputs | None = None

    def __post_init__(self) -> None:
        names = [qualified.split(".")[-1] for qualified in self.tables]
        if any(qualified.count(".") != 1 for qualified in self.tables) or len(set(names)) != len(names):
            raise ValueError(f"model family {self.name!r}: tables must be distinct schema.table names, "
                             f"got {sorted(self.tables)}")
        unknown = sorted(set(self.requires) - set(names))
        if unknown:
            raise ValueError(f"model family {self.name!r}: requires rows of tables it does not read: {unknown}")
        if not self.name.isidentifier():
            raise ValueError(f"model family name must be a Python identifier, got {self.name!r}")
        if self.primary_metric not in self.metrics:
            raise ValueError(f"model family {self.name!r}: primary metric {self.primary_metric!r} "
                             f"is not one of its metrics {sorted(self.metrics)}")
        if len(self.output_key.path) != 2:
            raise ValueError(f"model family {self.name!r}: output_key must be schema/table, "
                             f"got {self.output_key.to_user_string()!r}")

    @property
    def deps(self) -> list[dg.AssetKey]:
        """The upstream assets: one per table read."""
        return [dg.AssetKey(qualified.split(".")) for qualified in self.tables]

    @property
    def model_key(self) -> dg.AssetKey:
        return dg.AssetKey(["models", self.name])

    @property
    def promotion_key(self) -> dg.AssetKey:
        return dg.AssetKey(["promotion", f"{self.name}_decision"])

    @property
    def drift_key(self) -> dg.AssetKey:
        return dg.AssetKey(["monitoring", f"{self.name}_drift"])

    @property
    def served_key(self) -> dg.AssetKey:
        """The served-prediction monitoring asset (the serving API's prediction log read back)."""
        return dg.AssetKey(["monitoring", f"{self.name}_served"])

    @property
    def job_name(self) -> str:
        return f"{self.name}_retraining_job"

    @property
    def sensor_name(self) -> str:
        return f"{self.name}_retraining_sensor"
