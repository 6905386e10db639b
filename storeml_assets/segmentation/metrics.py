"""Figures of a segmentation, model-independent so that the model, the RFM-quintile baseline and the
planted personas are measured the same way on the same customers.

- ``silhouette``: silhouette of the assignment in :func:`evaluation_space` (standardised log frequency,
  recency, log monetary value, tenure and activity), on a seeded sample of :data:`SILHOUETTE_SAMPLE`;
- ``persona_ari``: adjusted Rand index against the simulator's planted personas;
- ``smallest_segment_share``, ``n_segments``;
- ``stability``: mean adjusted Rand index between the model's assignment and those of refits on bootstrap
  resamples of the training customers (computed by the family, which owns the fitting).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, silhouette_score

from storeml_assets.markdown import table as markdown_table
from storeml_assets.segmentation.model import LOOKBACK_DAYS

SILHOUETTE_SAMPLE = 3_000
#: Metric -> higher is better (the demo line leads with the first ones).
METRICS: dict[str, bool] = {
    "silhouette": True,
    "persona_ari": True,
    "stability": True,
    "smallest_segment_share": True,
    "n_segments": True,
}
PROFILE_COLUMNS = ("segment", "customers", "share", "mean_recency_days", "mean_frequency", "mean_monetary")


def _numeric(frame: pd.DataFrame, name: str, fill: float) -> np.ndarray:
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isfinite(values), values, fill)


def evaluation_space(frame: pd.DataFrame) -> np.ndarray:
    """Standardised (on ``frame`` itself) log1p frequency, recency / lookback, log1p monetary, tenure / 365, p_alive."""
    columns = np.column_stack([
        np.log1p(np.clip(_numeric(frame, "frequency", 0.0), 0.0, None)),
        np.clip(_numeric(frame, "recency_days", LOOKBACK_DAYS), 0.0, LOOKBACK_DAYS) / LOOKBACK_DAYS,
        np.log1p(np.clip(_numeric(frame, "monetary", 0.0), 0.0, None)),
        np.clip(_numeric(frame, "tenure_days", 0.0), 0.0, 365.0) / 365.0,
        np.clip(_numeric(frame, "activity_p_alive", 0.0), 0.0, 1.0),
    ])
    scale = columns.std(axis=0)
    return (columns - columns.mean(axis=0)) / np.where(scale > 1e-9, scale, 1.0)


def silhouette(space: np.ndarray, labels: Sequence[str] | np.ndarray, seed: int = 0) -> float:
    """Sampled silhouette of ``labels`` in ``space``; NaN with fewer than two segments."""
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2 or len(labels) < 3:
        return float("nan")
    sample = min(len(labels), SILHOUETTE_SAMPLE)
    return float(silhouette_score(space, labels, sample_size=sample, random_state=seed))


def segment_figures(space: np.ndarray, labels: Sequence[str] | np.ndarray, personas: np.ndarray | None,
                    seed: int = 0) -> dict[str, float]:
    """silhouette, smallest_segment_share, n_segments and (with ``personas``) persona_ari of one assignment."""
    labels = np.asarray(labels)
    _, counts = np.unique(labels, return_counts=True)
    out = {
        "silhouette": silhouette(space, labels, seed),
        "smallest_segment_share": float(counts.min() / counts.sum()) if len(counts) else float("nan"),
        "n_segments": float(len(counts)),
    }
    if personas is not None:
        out["persona_ari"] = float(adjusted_rand_score(personas, labels))
    return out


def mean_ari(reference: np.ndarray, others: Sequence[np.ndarray]) -> float:
    """Mean adjusted Rand index of ``others`` against ``reference`` (NaN without others)."""
    if not others:
        return float("nan")
    return float(np.mean([adjusted_rand_score(reference, other) for other in others]))


def _quintile(values: np.ndarray) -> np.ndarray:
    """1..5 by rank (ties share the lower score), 5 = highest value."""
    ranks = pd.Series(values).rank(method="min", pct=True).to_numpy()
    return np.clip(np.ceil(ranks * 5), 1, 5).astype(int)


def rfm_quintile_segments(frame: pd.DataFrame) -> np.ndarray:
    """The classic RFM grid: recency and frequency scored 1-5 by quintile over the customers (recency reversed,
    no order = the worst recency), then champions (R>=4, F>=4), loyal (R>=3, F>=3), new (R>=4, F<=2),
    at risk (R<=2, F>=3), hibernating (the rest). Monetary value follows frequency here and adds no cell."""
    recency = np.clip(_numeric(frame, "recency_days", LOOKBACK_DAYS * 2), 0.0, None)
    frequency = _numeric(frame, "frequency", 0.0)
    r_score, f_score = _quintile(-recency), _quintile(frequency)
    return np.select(
        [(r_score >= 4) & (f_score >= 4), (r_score >= 3) & (f_score >= 3), (r_score >= 4) & (f_score <= 2),
         (r_score <= 2) & (f_score >= 3)],
        ["champions", "loyal", "new", "at risk"], default="hibernating").astype(str)


def segment_profile(frame: pd.DataFrame, labels: np.ndarray) -> list[dict[str, float | str | int]]:
    """Per segment: customers, share, mean recency (customers with an order), frequency and monetary value."""
    data = pd.DataFrame({
        "segment": labels,
        "recency": pd.to_numeric(frame["recency_days"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan),
        "frequency": _numeric(frame, "frequency", 0.0),
        "monetary": _numeric(frame, "monetary", 0.0),
    })
    grouped = data.groupby("segment", sort=True)
    rows = []
    for segment, part in grouped:
        recency = part["recency"].mean()
        rows.append({"segment": str(segment), "customers": len(part), "share": len(part) / max(len(data), 1),
                     "mean_recency_days": None if pd.isna(recency) else float(recency),
                     "mean_frequency": float(part["frequency"].mean()),
                     "mean_monetary": float(part["monetary"].mean())})
    return sorted(rows, key=lambda row: -float(row["customers"]))  # type: ignore[arg-type]


def profile_markdown(profile: Sequence[Mapping[str, object]]) -> str:
    """The segment profile as a Markdown table."""
    def cell(value: object, digits: int) -> str:
        return "" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    rows = [[cell(row["segment"], 0), cell(row["customers"], 0), cell(row["share"], 3),
             cell(row["mean_recency_days"], 1), cell(row["mean_frequency"], 2), cell(row["mean_monetary"], 2)]
            for row in profile]
    return markdown_table(rows, list(PROFILE_COLUMNS), right=list(PROFILE_COLUMNS[1:]))


def segment_plot(frame: pd.DataFrame, labels: np.ndarray, seed: int = 0, points: int = 4_000) -> bytes:
    """PNG: a sample of customers by recency and log frequency, coloured by segment, beside the segment sizes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    shown = rng.choice(len(labels), min(len(labels), points), replace=False)
    recency = np.clip(_numeric(frame, "recency_days", LOOKBACK_DAYS), 0.0, LOOKBACK_DAYS)[shown]
    frequency = np.log1p(np.clip(_numeric(frame, "frequency", 0.0), 0.0, None))[shown]
    jitter = rng.normal(0.0, 0.04, len(shown))
    names, counts = np.unique(labels, return_counts=True)
    fig, (scatter, bars) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [2, 1]})
    for name in names:
        mine = labels[shown] == name
        scatter.scatter(recency[mine], frequency[mine] + jitter[mine], s=4, alpha=0.5, label=str(name))
    scatter.set_xlabel(f"recency (days; no order in the lookback = {LOOKBACK_DAYS:.0f})")
    scatter.set_ylabel("log(1 + orders in the lookback)")
    scatter.legend(loc="upper right", fontsize=8, markerscale=3)
    bars.barh([str(n) for n in names], counts / counts.sum())
    bars.set_xlabel("share of customers")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()
