"""Data drift between a reference window and a current window, with Evidently 0.7's new API.

Column tests (fixed, not left to Evidently's sample-size-dependent defaults, so that the score
means the same thing for 800 rows and for 80,000):

- numeric columns: normed Wasserstein distance (``wasserstein``: Wasserstein-1 distance divided by
  the reference standard deviation), drifted when >= 0.1, i.e. the distributions moved about a
  tenth of a standard deviation. A distance, not a p-value, so that a few thousand rows per side
  do not flag negligible but "significant" shifts.
- categorical columns: Jensen-Shannon distance (``jensenshannon``), drifted when >= 0.1.

Both are Evidently's own defaults for more than 1000 reference rows; K-S / chi-square (its
defaults below 1000 rows) become hypersensitive as samples grow. With fewer than about 500 rows
per side the Wasserstein sampling noise approaches the 0.1 threshold: compare larger windows.
Methods and thresholds can be overridden per call.

The dataset is drifted when the share of drifted columns is >= ``drift_share_threshold``
(Evidently's ``DriftedColumnsCount`` test: share < threshold passes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

DEFAULT_NUM_METHOD = "wasserstein"
DEFAULT_CAT_METHOD = "jensenshannon"
DEFAULT_NUM_THRESHOLD = 0.1
DEFAULT_CAT_THRESHOLD = 0.1

_VALUE_DRIFT = "evidently:metric_v2:ValueDrift"
_DRIFTED_COUNT = "evidently:metric_v2:DriftedColumnsCount"


@dataclass(frozen=True)
class ColumnDrift:
    """One column's drift verdict."""

    column: str
    column_type: str  # "numeric" | "categorical"
    stattest: str
    score: float
    threshold: float
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "column_type": self.column_type,
            "stattest": self.stattest,
            "score": self.score,
            "threshold": self.threshold,
            "drifted": self.drifted,
        }


@dataclass(frozen=True)
class DriftSummary:
    """Dataset-level drift summary of one Evidently ``DataDriftPreset`` report."""

    drift_share: float
    drifted_count: int
    column_count: int
    dataset_drift: bool
    drift_share_threshold: float
    drifted_columns: list[str]
    columns: dict[str, ColumnDrift] = field(default_factory=dict)
    reference_rows: int = 0
    current_rows: int = 0
    html_path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable form."""
        return {
            "drift_share": self.drift_share,
            "drifted_count": self.drifted_count,
            "column_count": self.column_count,
            "dataset_drift": self.dataset_drift,
            "drift_share_threshold": self.drift_share_threshold,
            "drifted_columns": list(self.drifted_columns),
            "columns": {name: col.to_dict() for name, col in self.columns.items()},
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "html_path": str(self.html_path) if self.html_path else None,
        }


def _split_columns(reference: pd.DataFrame, current: pd.DataFrame, columns: list[str],
                   categorical: list[str] | None) -> tuple[list[str], list[str]]:
    if not columns:
        raise ValueError("drift_summary needs at least one column")
    for name, frame in (("reference", reference), ("current", current)):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"columns missing from the {name} frame: {missing}")
        if frame.empty:
            raise ValueError(f"the {name} frame is empty")
    if categorical is None:
        categorical = [
            c for c in columns
            if not (pd.api.types.is_numeric_dtype(reference[c]) and not pd.api.types.is_bool_dtype(reference[c]))
        ]
    unknown = [c for c in categorical if c not in columns]
    if unknown:
        raise ValueError(f"categorical columns not among the compared columns: {unknown}")
    numeric = [c for c in columns if c not in categorical]
    return numeric, list(categorical)


def _prepared(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    out = frame[[*numeric, *categorical]].copy()
    for column in numeric:
        out[column] = pd.to_numeric(out[column], errors="raise").astype("float64")
    for column in categorical:
        out[column] = out[column].astype("string").fillna("<missing>").astype(object)
    return out


def drift_summary(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: list[str],
    drift_share_threshold: float = 0.5,
    categorical: list[str] | None = None,
    num_method: str = DEFAULT_NUM_METHOD,
    cat_method: str = DEFAULT_CAT_METHOD,
    num_threshold: float = DEFAULT_NUM_THRESHOLD,
    cat_threshold: float = DEFAULT_CAT_THRESHOLD,
    html_path: str | Path | None = None,
) -> DriftSummary:
    """Compare ``current`` against ``reference`` over ``columns`` with ``DataDriftPreset``.

    ``categorical`` defaults to the non-numeric columns. When ``html_path`` is given the Evidently
    HTML report is written there (parent folders created).
    """
    if not 0.0 < drift_share_threshold <= 1.0:
        raise ValueError(f"drift_share_threshold must be in (0, 1], got {drift_share_threshold!r}")
    numeric, categorical = _split_columns(reference, current, columns, categorical)
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    report = Report(
        [
            DataDriftPreset(
                columns=[*numeric, *categorical],
                drift_share=drift_share_threshold,
                num_method=num_method,
                cat_method=cat_method,
                num_threshold=num_threshold,
                cat_threshold=cat_threshold,
            )
        ],
        include_tests=True,
    )
    snapshot = report.run(
        current_data=Dataset.from_pandas(_prepared(current, numeric, categorical), data_definition=definition),
        reference_data=Dataset.from_pandas(_prepared(reference, numeric, categorical), data_definition=definition),
    )

    per_column: dict[str, ColumnDrift] = {}
    share: float | None = None
    count: int | None = None
    for result in snapshot.metric_results.values():
        params = result.metric_value_location.metric.params
        kind = params.get("type")
        if kind == _VALUE_DRIFT:
            name = params["column"]
            per_column[name] = ColumnDrift(
                column=name,
                column_type="categorical" if name in categorical else "numeric",
                stattest=str(params.get("method")),
                score=float(result.value),
                threshold=float(params.get("threshold")),
                drifted=any(test.status.value == "FAIL" for test in result.tests),
            )
        elif kind == _DRIFTED_COUNT:
            share = float(result.share.value)
            count = int(result.count.value)
    if share is None or count is None or set(per_column) != set(numeric) | set(categorical):
        raise RuntimeError("Evidently report did not contain the expected drift metrics")

    drifted = [c for c in [*numeric, *categorical] if per_column[c].drifted]
    if count != len(drifted):
        raise RuntimeError(
            f"Evidently drift count {count} disagrees with per-column verdicts {drifted}"
        )
    saved: Path | None = None
    if html_path is not None:
        saved = Path(html_path)
        saved.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(saved))
    return DriftSummary(
        drift_share=share,
        drifted_count=count,
        column_count=len(per_column),
        dataset_drift=share >= drift_share_threshold,
        drift_share_threshold=drift_share_threshold,
        drifted_columns=drifted,
        columns={c: per_column[c] for c in columns},
        reference_rows=len(reference),
        current_rows=len(current),
        html_path=saved,
    )
