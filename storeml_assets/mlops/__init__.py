"""The one data-access package of the ``mlops`` tables and views: every reader and writer goes through it.

- :mod:`~storeml_assets.mlops.versions`: ``model_versions`` (one row per trained candidate) and the
  promotion decisions of ``retraining_decisions``, with the status lifecycle they imply;
- :mod:`~storeml_assets.mlops.monitoring`: ``monitoring_metrics`` (drift, coverage, triggers);
- :mod:`~storeml_assets.mlops.predictions`: ``predictions`` (the serving API's prediction log);
- :mod:`~storeml_assets.mlops.views`: the analyst views (``v_decision_history``,
  ``v_model_timeline``, ``v_recent_monitoring``) as rows, and the demo summary's reads.

Functions take an open SQLAlchemy connection (``PostgresResource.connect()``: one transaction is
the caller's), bind every value and return plain rows (dicts) or ids; they know nothing of Dagster.
"""

from storeml_assets.mlops.monitoring import insert_metrics, insert_trigger_once, latest_drift
from storeml_assets.mlops.predictions import predictions_between
from storeml_assets.mlops.versions import (
    ARCHIVED,
    PRODUCTION,
    STAGING,
    DecisionExistsError,
    apply_decision,
    champion_of,
    decision_of,
    insert_family_version,
    insert_model_version,
    model_version_row,
    newest_attempt,
    record_decision,
)
from storeml_assets.mlops.views import (
    VIEWS,
    decisions_since,
    drift_since,
    model_versions_since,
    newest_attempts_since,
    read_view,
)

__all__ = [
    "ARCHIVED",
    "PRODUCTION",
    "STAGING",
    "VIEWS",
    "DecisionExistsError",
    "apply_decision",
    "champion_of",
    "decision_of",
    "insert_family_version",
    "decisions_since",
    "drift_since",
    "insert_metrics",
    "insert_model_version",
    "insert_trigger_once",
    "latest_drift",
    "model_version_row",
    "model_versions_since",
    "newest_attempts_since",
    "newest_attempt",
    "predictions_between",
    "read_view",
    "record_decision",
]
