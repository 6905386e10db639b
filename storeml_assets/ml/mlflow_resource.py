"""MLflow tracking and registry as a Pythonic Dagster resource that always ends its runs.

dagster-mlflow's plain resource starts a run and leaves it RUNNING unless its end-run hook is
attached; :meth:`MlflowTracking.start_run` is a context manager that ends the MLflow run FINISHED
when the block succeeds, FAILED when it raises (the exception propagates, so the Dagster step
fails too) and KILLED on an interrupt.

Defaults: the tracking and registry store is the ``mlflow`` Postgres database
(``postgresql+psycopg2://...``, embedded server unless configured); artifacts go to
``settings.mlflow_artifacts_dir`` as a ``file://`` URI (any MLflow artifact URI, e.g. ``s3://``,
can be configured). The tracking URI is never logged, tagged or put into params; use
:attr:`MlflowTracking.display_uri` (password redacted) to show it.

Registry: candidates are registered as a new version with alias ``challenger``;
:meth:`MlflowTracking.promote` moves alias ``champion``; serving and evaluation load
``models:/<name>@champion``.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import mlflow
import mlflow.sklearn
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.models.model import ModelInfo
from pydantic import Field

from storeml_assets.db.urls import normalize_scheme, redact, sqlalchemy_url

CHAMPION = "champion"
CHALLENGER = "challenger"

TAG_RUN_ID = "dagster.run_id"
TAG_ASSET_KEY = "dagster.asset_key"
TAG_JOB_NAME = "dagster.job_name"
TAG_PARTITION_KEY = "dagster.partition_key"

#: Types skops must trust to load storeml's pipeline (reviewed: produced by our own training only;
#: the calibrated HistGradientBoosting model needs them). Stored with the model by ``log_model``.
SKOPS_TRUSTED_TYPES: list[str] = [
    "functools.partial",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils.validation.check_array",
]

_MISSING_CODES = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}


def _is_postgres(uri: str) -> bool:
    return urlsplit(uri).scheme.split("+", 1)[0] in {"postgres", "postgresql"}


def _store_uri(url: str) -> str:
    """A Postgres URL in the SQLAlchemy psycopg2 form MLflow needs; other URIs unchanged."""
    return sqlalchemy_url(url) if _is_postgres(url) else url


def model_requirements() -> list[str]:
    """Pinned pip requirements of a logged model (MLflow's own inference spawns a slow subprocess)."""
    pins = mlflow.sklearn.get_default_pip_requirements(include_skops=True)
    for package in ("numpy", "scipy", "pandas"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            pins.append(f"{package}=={importlib.metadata.version(package)}")
    return pins


def dagster_tags(context: dg.AssetExecutionContext | dg.OpExecutionContext | None) -> dict[str, str]:
    """Tags linking an MLflow run to the Dagster run, job, asset key and partition."""
    if context is None:
        return {}
    tags = {TAG_RUN_ID: context.run.run_id, TAG_JOB_NAME: context.run.job_name}
    with contextlib.suppress(Exception):  # multi-assets have no single key
        tags[TAG_ASSET_KEY] = context.asset_key.to_user_string()
    if context.has_partition_key:
        tags[TAG_PARTITION_KEY] = context.partition_key
    return tags


class MlflowTracking(dg.ConfigurableResource):
    """MLflow tracking and model registry for storeml (runs end FINISHED or FAILED)."""

    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking/registry store URI; default: the `mlflow` Postgres database.",
    )
    artifact_location: str | None = Field(
        default=None,
        description="Artifact root for new experiments (file path or URI); default: the data folder.",
    )
    experiment_name: str = Field(default="storeml", description="MLflow experiment receiving the runs.")

    # --- configuration -------------------------------------------------------------------------

    def resolved_tracking_uri(self) -> str:
        """The store URI in MLflow's form (may contain a password: never log it)."""
        if self.tracking_uri:
            return _store_uri(self.tracking_uri)
        from storeml_assets.db.locator import database_url
        from storeml_assets.settings import get_settings

        configured = get_settings().mlflow_tracking_uri
        if configured:
            return _store_uri(configured)

        return sqlalchemy_url(database_url("mlflow"))

    @property
    def display_uri(self) -> str:
        """The tracking URI with any password redacted, for logs and metadata."""
        return redact(self.resolved_tracking_uri())

    def resolved_artifact_location(self) -> str:
        if self.artifact_location:
            if "://" in self.artifact_location:
                return self.artifact_location
            path = Path(self.artifact_location).expanduser().resolve()
        else:
            from storeml_assets.settings import get_settings

            path = get_settings().mlflow_artifacts_dir
        path.mkdir(parents=True, exist_ok=True)
        return path.as_uri()

    def client(self) -> MlflowClient:
        """Point MLflow's fluent API at this store and return a client for it."""
        uri = self.resolved_tracking_uri()
        if mlflow.get_tracking_uri() != uri:
            mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        return MlflowClient(tracking_uri=uri, registry_uri=uri)

    def check_reachable(self) -> None:
        """Fail fast with one redacted line when a Postgres store is down (MLflow retries for minutes)."""
        uri = self.resolved_tracking_uri()
        if _is_postgres(uri):
            from storeml_assets.db.locator import connect

            connect(normalize_scheme(uri), application_name="storeml-mlflow").close()

    def experiment_id(self) -> str:
        """The experiment's id, creating it with the configured artifact location if needed."""
        self.check_reachable()
        client = self.client()
        existing = client.get_experiment_by_name(self.experiment_name)
        if existing is not None:
            return existing.experiment_id
        try:
            return client.create_experiment(self.experiment_name,
                                            artifact_location=self.resolved_artifact_location())
        except MlflowException as exc:  # created concurrently by another process
            existing = client.get_experiment_by_name(self.experiment_name)
            if existing is None:
                raise RuntimeError(f"cannot create MLflow experiment {self.experiment_name!r}: "
                                   f"{redact(exc.message)}") from None
            return existing.experiment_id

    # --- runs ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def start_run(
        self,
        context: dg.AssetExecutionContext | dg.OpExecutionContext | None = None,
        run_name: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> Iterator[mlflow.ActiveRun]:
        """One MLflow run tagged with the Dagster run; FINISHED on success, FAILED on exception."""
        experiment_id = self.experiment_id()
        all_tags = {**dagster_tags(context), **{k: str(v) for k, v in (tags or {}).items()}}
        run = mlflow.start_run(
            experiment_id=experiment_id,
            run_name=run_name,
            tags=all_tags,
            nested=mlflow.active_run() is not None,
        )
        if context is not None:
            context.log.info(f"MLflow run {run.info.run_id} in experiment {self.experiment_name!r} "
                             f"({self.display_uri})")
        try:
            yield run
        except Exception:
            mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
            raise
        except BaseException:
            mlflow.end_run(RunStatus.to_string(RunStatus.KILLED))
            raise
        else:
            mlflow.end_run(RunStatus.to_string(RunStatus.FINISHED))

    def run_status(self, run_id: str) -> str:
        """``RUNNING``, ``FINISHED``, ``FAILED`` or ``KILLED``."""
        return self.client().get_run(run_id).info.status

    # --- artifacts and models ------------------------------------------------------------------

    def log_files(self, files: Mapping[str, bytes], artifact_path: str | None = None) -> None:
        """Log in-memory files (e.g. PNG plots) as artifacts of the active run."""
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in files.items():
                target = Path(tmp) / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            mlflow.log_artifacts(tmp, artifact_path=artifact_path)

    @staticmethod
    def signature_for(model: Any, input_example: pd.DataFrame) -> ModelSignature:
        """Input columns of the example and the model's ``predict_proba`` output."""
        return infer_signature(input_example, model.predict_proba(input_example))

    def log_model(
        self,
        model: Any,
        *,
        input_example: pd.DataFrame,
        name: str = "model",
    ) -> ModelInfo:
        """Log a fitted sklearn model (sklearn flavour, signature, input example) to the active run.

        Serialized with skops (safe loading, :data:`SKOPS_TRUSTED_TYPES`), not pickle. The pyfunc
        flavour predicts ``predict_proba``; load it natively with :meth:`load_champion`.
        """
        if mlflow.active_run() is None:
            raise RuntimeError("log_model needs an active MLflow run: call it inside start_run()")
        example = input_example.head(5)
        return mlflow.sklearn.log_model(
            model,
            name=name,
            signature=self.signature_for(model, example),
            input_example=example,
            pyfunc_predict_fn="predict_proba",
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
            pip_requirements=model_requirements(),
        )

    def register(self, model_uri: str, model_name: str, *, alias: str = CHALLENGER) -> str:
        """Register ``model_uri`` as a new version of ``model_name`` and point ``alias`` at it."""
        client = self.client()
        version = mlflow.register_model(model_uri, model_name)
        client.set_registered_model_alias(model_name, alias, version.version)
        return str(version.version)

    def log_and_register(self, model: Any, *, model_name: str, input_example: pd.DataFrame,
                         name: str = "model") -> tuple[ModelInfo, str]:
        """Log the model to the active run and register it as the new ``challenger`` version."""
        info = self.log_model(model, input_example=input_example, name=name)
        return info, self.register(info.model_uri, model_name, alias=CHALLENGER)

    def promote(self, model_name: str, version: str | int) -> None:
        """Move alias ``champion`` to ``version`` (the only place the champion changes)."""
        self.client().set_registered_model_alias(model_name, CHAMPION, str(version))

    def alias_version(self, model_name: str, alias: str) -> str | None:
        """The version an alias points at, or None when the model or alias does not exist."""
        try:
            return str(self.client().get_model_version_by_alias(model_name, alias).version)
        except MlflowException as exc:
            if exc.error_code in _MISSING_CODES:
                return None
            raise

    def champion_version(self, model_name: str) -> str | None:
        return self.alias_version(model_name, CHAMPION)

    def challenger_version(self, model_name: str) -> str | None:
        return self.alias_version(model_name, CHALLENGER)

    def load_champion(self, model_name: str) -> Any:
        """The native sklearn champion model, from ``models:/<name>@champion``."""
        self.client()
        if self.champion_version(model_name) is None:
            raise LookupError(f"registered model {model_name!r} has no {CHAMPION!r} alias")
        return mlflow.sklearn.load_model(f"models:/{model_name}@{CHAMPION}")
