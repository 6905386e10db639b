"""A model family, declared once: what it trains on, how it trains and is judged, what is watched for drift.

One code path turns a family into its candidate asset (``models/<name>``,
:func:`storeml_assets.models.candidate.build_candidate_asset`), its promotion decision
(:func:`storeml_assets.promotion.decision.build_promotion_asset`), its drift monitoring
(:func:`storeml_assets.monitoring.drift.build_drift_asset`), its retraining job
(:func:`storeml_assets.models.jobs.build_retraining_job`) and its retraining sensor
(:func:`storeml_assets.monitoring.sensors.build_retraining_sensor`): train -> log to MLflow ->
register as ``challenger`` -> six gates -> promote (``champion`` alias, the mlops ``model_versions`` table,
decision) -> drift monitoring -> retraining triggers.

The training set of every family is a frame with a ``split`` column (``train`` / ``holdout``), a
``cutoff`` column, the label and the features (:mod:`storeml_assets.features.training`); its
materialization records the data basis (``data_hwm``, ``orders_seen``) the retraining sensor compares.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import pandas as pd
import polars as pl

from storeml_assets import keys
from storeml_assets.ml.gates import GateConfig
from storeml_assets.ml.train import EvaluationResult

#: ``train(train_rows, seed) -> fitted model`` (an sklearn estimator with ``predict_proba``).
TrainFn = Callable[[pd.DataFrame, int], Any]
#: ``evaluate(model, holdout_rows) -> EvaluationResult`` (holdout metrics, per-segment F1).
EvaluateFn = Callable[[Any, pd.DataFrame], EvaluationResult]
#: ``oracle(model, current_features, read_sql) -> figures`` beside the truth when there is one:
#: ``{"available": True, "model_roc_auc", "oracle_roc_auc", "ratio"}`` or ``{"available": False, "reason"}``.
OracleFn = Callable[[Any, pl.DataFrame, Callable[[str], pd.DataFrame]], dict[str, Any]]
#: What a served prediction is: a class with the positive score and the probabilities (``binary``), a class
#: with the probabilities (``multiclass``), or a number (``regression``).
OUTPUT_KINDS = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class ModelFamily:
    """One model family of the storefront, as the lifecycle sees it."""

    #: Registered model name (MLflow registry and ``mlops``), also the candidate asset's name.
    name: str
    #: One line of business meaning (the candidate asset's description in the UI).
    description: str
    #: The labelled training set (a ``split``/``cutoff`` frame, see the module docstring).
    training_set_key: dg.AssetKey
    #: The current features (drift against the training rows, coverage, the oracle).
    features_key: dg.AssetKey
    label: str
    train: TrainFn
    evaluate: EvaluateFn
    #: Scores of a fitted model for feature rows (drift coverage); default: ``predict_proba`` column 1.
    score: Callable[[Any, pd.DataFrame], Any]
    #: Metric name -> True when higher is better (logged to MLflow and the candidate's metadata).
    metrics: Mapping[str, bool]
    #: Default thresholds of the six promotion gates (each overridable in the run config).
    gates: GateConfig
    #: Feature columns compared between the training window and now (gate ``data_drift``, monitoring).
    drift_columns: tuple[str, ...]
    #: Columns whose segments must each perform (gate ``segment_consistency``).
    segment_columns: tuple[str, ...]
    #: Serving signature: the input columns a prediction needs, in order (also the MLflow input example).
    signature: tuple[str, ...]
    #: Code version of the training; a new one gives the retraining sensor a reason to train again.
    code_version: str = "1"
    #: Extra MLflow params describing the family (feature counts, segment columns...).
    params: Mapping[str, Any] = field(default_factory=dict)
    oracle: OracleFn | None = None
    #: Kinds shown on the candidate asset in the UI.
    kinds: frozenset[str] = frozenset({"sklearn", "mlflow"})
    #: Serving: the signature columns that are categorical (strings); every other signature column is numeric.
    categorical_columns: tuple[str, ...] = ()
    #: Serving: the ``schema/table`` asset id lookups read the latest feature rows from (None: inline features only).
    lookup_key: dg.AssetKey | None = None
    #: Serving: the id column of ``lookup_key`` (``{"customer_ids": [...]}`` matches it).
    lookup_id_column: str = "customer_id"
    #: Serving: the column whose newest value per id is the latest feature row.
    lookup_order_column: str = "cutoff"
    #: Serving: what a prediction is, one of :data:`OUTPUT_KINDS`.
    output_kind: str = "binary"

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"model family name must be a Python identifier, got {self.name!r}")
        unknown = set(self.metrics) - {"f1", "precision", "recall", "brier", "roc_auc", "pr_auc"}
        if unknown:
            raise ValueError(f"model family {self.name!r} declares unknown metrics {sorted(unknown)}")
        stray = [c for c in self.categorical_columns if c not in self.signature]
        if stray:
            raise ValueError(f"model family {self.name!r}: categorical column {stray[0]!r} is not in its signature")
        if self.output_kind not in OUTPUT_KINDS:
            raise ValueError(f"model family {self.name!r}: output_kind must be one of {', '.join(OUTPUT_KINDS)}, "
                             f"got {self.output_kind!r}")
        if self.lookup_key is not None and len(self.lookup_key.path) != 2:
            raise ValueError(f"model family {self.name!r}: lookup_key must be schema/table, "
                             f"got {self.lookup_key.to_user_string()!r}")

    @property
    def numeric_columns(self) -> tuple[str, ...]:
        """The signature columns that are numeric (all but :attr:`categorical_columns`), in signature order."""
        return tuple(c for c in self.signature if c not in self.categorical_columns)

    @property
    def model_key(self) -> dg.AssetKey:
        return keys.model_key(self.name)

    @property
    def promotion_key(self) -> dg.AssetKey:
        return keys.promotion_key(self.name)

    @property
    def drift_key(self) -> dg.AssetKey:
        return (keys.FEATURE_DRIFT_KEY if self.name == keys.PURCHASE_PROPENSITY
                else dg.AssetKey(["monitoring", f"{self.name}_drift"]))

    @property
    def served_key(self) -> dg.AssetKey:
        """The served-prediction monitoring asset (the serving API's prediction log read back)."""
        return dg.AssetKey(["monitoring", "served_predictions" if self.name == keys.PURCHASE_PROPENSITY
                            else f"{self.name}_served"])

    @property
    def job_name(self) -> str:
        return keys.RETRAINING_JOB_NAME if self.name == keys.PURCHASE_PROPENSITY else f"{self.name}_retraining_job"

    @property
    def sensor_name(self) -> str:
        return (keys.RETRAINING_SENSOR_NAME if self.name == keys.PURCHASE_PROPENSITY
                else f"{self.name}_retraining_sensor")

    @property
    def config_key(self) -> str:
        """The run-config key of the candidate asset (``models__<name>``)."""
        return "__".join(self.model_key.path)
