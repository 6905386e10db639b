"""Data drift between a reference window and a current window, with Evidently 0.7's new API.

Column tests (fixed, not left to Evidently's sample-size-dependent defaults, so that the score
means the same thing for 800 rows and for 80,000):

- numeric columns: normed Wasserstein distance (``wasserstein``: Wasserstein-1 distance divided by
  the reference standard deviation), drifted when >= 0.1, i.e. the distributions moved about a
  tenth of a standard deviation, *and* beyond sampling noise (below). A distance, not a p-value,
  so that a few thousand rows per side do not flag negligible but "significant" shifts.
- categorical columns: Jensen-Shannon distance (``jensenshannon``), drifted when >= 0.1.

Both are Evidently's own defaults for more than 1000 reference rows; K-S / chi-square (its
defaults below 1000 rows) become hypersensitive as samples grow.

Sampling noise (:func:`noise_floor`): with a few hundred rows per side two samples of one and the
same distribution are often 0.1-0.25 apart (measured on the simulator's ``tiny`` storefront), so a
fixed 0.1 would flag noise. Each numeric column's threshold is therefore the larger of 0.1 and the
99th percentile of the distance between random splits of the pooled values (a permutation null,
seeded, at most :data:`NOISE_SAMPLE_CAP` values per side), passed to Evidently as that column's
threshold. From a few thousand rows per side the noise floor is far below 0.1 and changes nothing.

Minimum rows (:data:`MIN_DRIFT_ROWS`): with fewer rows on either side there is no verdict; the
summary says "not enough data to judge drift (N reference / M current rows < K)", its drift share
is None and no column is judged, so too little data is never reported as drift.

The dataset is drifted when the share of drifted columns is >= ``drift_share_threshold``
(Evidently's ``DriftedColumnsCount`` test: share < threshold passes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import wasserstein_distance

DEFAULT_NUM_METHOD = "wasserstein"
DEFAULT_CAT_METHOD = "jensenshannon"
DEFAULT_NUM_THRESHOLD = 0.1
DEFAULT_CAT_THRESHOLD = 0.1
#: Fewer rows than this on either side: no verdict ("not enough data to judge drift").
MIN_DRIFT_ROWS = 200
#: Permutation null of the normed Wasserstein distance: quantile, number of splits, values per side.
NOISE_QUANTILE = 0.99
NOISE_PERMUTATIONS = 200
NOISE_SAMPLE_CAP = 5000
NOT_ENOUGH_DATA = "not enough data to judge drift"

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
    #: The 99th percentile of the score between random splits of the pooled values (numeric columns).
    noise_floor: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "column_type": self.column_type,
            "stattest": self.stattest,
            "score": self.score,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "noise_floor": self.noise_floor,
        }


@dataclass(frozen=True)
class DriftSummary:
    """Dataset-level drift summary of one Evidently ``DataDriftPreset`` report.

    ``drift_share`` is None when there were too few rows to judge (``judged`` is False, ``reason``
    says so); then no column is judged and ``dataset_drift`` is False.
    """

    drift_share: float | None
    drifted_count: int
    column_count: int
    dataset_drift: bool
    drift_share_threshold: float
    drifted_columns: list[str]
    columns: dict[str, ColumnDrift] = field(default_factory=dict)
    reference_rows: int = 0
    current_rows: int = 0
    html_path: Path | None = None
    min_rows: int = 0
    compared_columns: list[str] = field(default_factory=list)

    @property
    def judged(self) -> bool:
        return self.drift_share is not None

    @property
    def reason(self) -> str:
        """One line: the verdict and its figures."""
        if self.drift_share is None:
            return not_enough_data(self.reference_rows, self.current_rows, self.min_rows)
        relation = ">=" if self.dataset_drift else "<"
        return (f"drift share {self.drift_share:.2f} ({self.drifted_count} of {self.column_count} columns) "
                f"{relation} {self.drift_share_threshold:g}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable form."""
        return {
            "judged": self.judged,
            "reason": self.reason,
            "min_rows": self.min_rows,
            "compared_columns": list(self.compared_columns),
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


def not_enough_data(reference_rows: int, current_rows: int, min_rows: int) -> str:
    """The verdict when either side has fewer than ``min_rows`` rows."""
    return f"{NOT_ENOUGH_DATA} ({reference_rows} reference / {current_rows} current rows < {min_rows})"


def normed_wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """Wasserstein-1 distance divided by the reference standard deviation (Evidently's ``wasserstein``)."""
    return float(wasserstein_distance(reference, current)) / max(float(np.std(reference)), 0.001)


def noise_floor(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    quantile: float = NOISE_QUANTILE,
    permutations: int = NOISE_PERMUTATIONS,
    sample_cap: int = NOISE_SAMPLE_CAP,
    seed: int = 0,
) -> float:
    """The ``quantile`` of the normed Wasserstein distance between random splits of the pooled values.

    Splits keep the two sizes; with more than ``sample_cap`` values a side is subsampled first (a
    smaller sample is noisier, so the floor can only come out higher). Non-finite values are dropped.
    """
    ref = np.asarray(reference, dtype="float64")
    cur = np.asarray(current, dtype="float64")
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if ref.size == 0 or cur.size == 0:
        raise ValueError(f"noise_floor needs values on both sides, got {ref.size} reference and {cur.size} current")
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile!r}")
    rng = np.random.default_rng(seed)
    if ref.size > sample_cap:
        ref = rng.choice(ref, sample_cap, replace=False)
    if cur.size > sample_cap:
        cur = rng.choice(cur, sample_cap, replace=False)
    pooled = np.sort(np.concatenate([ref, cur]))
    pooled -= pooled.mean()  # the distances do not move; the reference sides' variances lose no precision
    n, m = ref.size, cur.size
    gaps = np.diff(pooled)
    # each row marks which sorted pooled values one random split gives the reference side (n of them)
    masks = rng.permuted(np.tile(np.r_[np.ones(n, dtype=np.int32), np.zeros(m, dtype=np.int32)], (permutations, 1)),
                         axis=1)
    # Wasserstein-1 of two samples: the area between their empirical CDFs, read at the pooled values
    below = np.cumsum(masks, axis=1)[:, :-1]
    ref_cdf = below / n
    cur_cdf = (np.arange(1, n + m) - below) / m
    distances = np.abs(ref_cdf - cur_cdf) @ gaps
    mean = masks @ pooled / n
    std = np.sqrt(np.maximum(masks @ (pooled * pooled) / n - mean * mean, 0.0))
    scores = distances / np.maximum(std, 0.001)
    return float(np.quantile(scores, quantile))


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
    min_rows: int = MIN_DRIFT_ROWS,
    noise_quantile: float | None = NOISE_QUANTILE,
) -> DriftSummary:
    """Compare ``current`` against ``reference`` over ``columns`` with ``DataDriftPreset``.

    ``categorical`` defaults to the non-numeric columns. When ``html_path`` is given the Evidently
    HTML report is written there (parent folders created). With fewer than ``min_rows`` rows on
    either side nothing is compared (see the module doc). With the ``wasserstein`` method each
    numeric column's threshold is raised to its :func:`noise_floor` at ``noise_quantile`` when that
    is higher (``None``: fixed thresholds).
    """
    if not 0.0 < drift_share_threshold <= 1.0:
        raise ValueError(f"drift_share_threshold must be in (0, 1], got {drift_share_threshold!r}")
    if min_rows < 1:
        raise ValueError(f"min_rows must be at least 1, got {min_rows!r}")
    numeric, categorical = _split_columns(reference, current, columns, categorical)
    if len(reference) < min_rows or len(current) < min_rows:
        return DriftSummary(
            drift_share=None, drifted_count=0, column_count=len(columns), dataset_drift=False,
            drift_share_threshold=drift_share_threshold, drifted_columns=[], columns={},
            reference_rows=len(reference), current_rows=len(current), html_path=None, min_rows=min_rows,
            compared_columns=list(columns),
        )
    ref_data = _prepared(reference, numeric, categorical)
    cur_data = _prepared(current, numeric, categorical)
    floors: dict[str, float] = {}
    if noise_quantile is not None and num_method == DEFAULT_NUM_METHOD:
        for column in numeric:
            ref_values = ref_data[column].dropna().to_numpy()
            cur_values = cur_data[column].dropna().to_numpy()
            if ref_values.size == 0 or cur_values.size == 0:
                side = "reference" if ref_values.size == 0 else "current"
                raise ValueError(f"column {column!r} has no values in the {side} frame")
            floors[column] = noise_floor(ref_values, cur_values, quantile=noise_quantile)
    per_column = {c: max(num_threshold, floor) for c, floor in floors.items()}
    from evidently import DataDefinition, Dataset, Report  # heavy: loaded when a comparison runs
    from evidently.presets import DataDriftPreset

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
                per_column_threshold=per_column or None,
            )
        ],
        include_tests=True,
    )
    snapshot = report.run(
        current_data=Dataset.from_pandas(cur_data, data_definition=definition),
        reference_data=Dataset.from_pandas(ref_data, data_definition=definition),
    )

    verdicts: dict[str, ColumnDrift] = {}
    share: float | None = None
    count: int | None = None
    for result in snapshot.metric_results.values():
        params = result.metric_value_location.metric.params
        kind = params.get("type")
        if kind == _VALUE_DRIFT:
            name = params["column"]
            verdicts[name] = ColumnDrift(
                column=name,
                column_type="categorical" if name in categorical else "numeric",
                stattest=str(params.get("method")),
                score=float(result.value),
                threshold=float(params.get("threshold")),
                drifted=any(test.status.value == "FAIL" for test in result.tests),
                noise_floor=floors.get(name),
            )
        elif kind == _DRIFTED_COUNT:
            share = float(result.share.value)
            count = int(result.count.value)
    if share is None or count is None or set(verdicts) != set(numeric) | set(categorical):
        raise RuntimeError("Evidently report did not contain the expected drift metrics")

    drifted = [c for c in [*numeric, *categorical] if verdicts[c].drifted]
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
        column_count=len(verdicts),
        dataset_drift=share >= drift_share_threshold,
        drift_share_threshold=drift_share_threshold,
        drifted_columns=drifted,
        columns={c: verdicts[c] for c in columns},
        reference_rows=len(reference),
        current_rows=len(current),
        html_path=saved,
        min_rows=min_rows,
        compared_columns=list(columns),
    )
