"""The simulator's knobs and result types: ``SimulationConfig`` in, ``SimulatedData`` out."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from storeml_assets.synthetic.scales import ScalePreset, scale_preset

DAY = 86_400
DEFAULT_END_DATE = date(2026, 10, 31)
PROPENSITY_HORIZON_DAYS = 30
CAMPAIGN_DAYS = 14

CHANNELS = ("web", "mobile", "app")
CHANNEL_P_BEFORE = (0.55, 0.30, 0.15)
CHANNEL_P_AFTER = (0.30, 0.55, 0.15)
BASKET_EXTRA_MEAN_BEFORE = 1.0
BASKET_EXTRA_MEAN_AFTER = 2.0
PROMO_RATE = 0.12
REVIEW_RATE = 0.10
#: Share of customers who churn within 180 days of becoming active; churn is a constant hazard.
CHURN_RATE = 0.35
CHURN_HAZARD_PER_DAY = -math.log1p(-CHURN_RATE) / 180.0
#: A churned customer still buys at this fraction of their former rate after the history.
DORMANT_RATE_FACTOR = 0.03
#: Sessions without an order per order: browse sessions view products (and may click, add to a
#: cart or a wishlist); visits leave without touching a product. Together 2.6 sessions without
#: an order per order, i.e. under 30% of the sessions convert.
BROWSE_SESSIONS_PER_ORDER = 0.6
VISIT_SESSIONS_PER_ORDER = 2.0
DRIFT_EXTRA_SESSION_SHARE = 1.0


@dataclass(frozen=True)
class SimulationConfig:
    """Knobs of one simulated storefront history."""

    seed: int = 42
    scale: str = "tiny"
    days: int = 180
    end_date: date = DEFAULT_END_DATE
    drift: bool = False
    drift_cutover: date | None = None
    n_bundles: int = 10

    def __post_init__(self) -> None:
        scale_preset(self.scale)
        if self.days < 30:
            raise ValueError(f"days must be at least 30, got {self.days}")
        if not 0 <= self.n_bundles <= 40:
            raise ValueError(f"n_bundles must be between 0 and 40, got {self.n_bundles}")
        cut = self.cutover
        if not self.start_date < cut <= self.end_date:
            raise ValueError(
                f"drift_cutover {cut} must fall inside the history {self.start_date} .. {self.end_date}"
            )

    @property
    def preset(self) -> ScalePreset:
        return scale_preset(self.scale)

    @property
    def start_date(self) -> date:
        """First day of the history (the history covers ``days`` days ending with ``end_date``)."""
        return self.end_date - timedelta(days=self.days - 1)

    @property
    def cutover(self) -> date:
        """Drift cut-over day (default 30 days before ``end_date``)."""
        return self.drift_cutover or (self.end_date - timedelta(days=30))

    @property
    def propensity_period(self) -> tuple[date, date]:
        """The days after the history that ``customer_propensity`` predicts (inclusive)."""
        start = self.end_date + timedelta(days=1)
        return start, start + timedelta(days=PROPENSITY_HORIZON_DAYS - 1)

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["end_date"] = self.end_date.isoformat()
        out["drift_cutover"] = self.cutover.isoformat()
        out["start_date"] = self.start_date.isoformat()
        return out


@dataclass
class SimulatedData:
    """Generated tables per source database, plus the planted ground truth."""

    config: SimulationConfig
    databases: dict[str, dict[str, pl.DataFrame]]
    ground_truth: dict[str, pl.DataFrame]
    generated_at: datetime
    timings: dict[str, float] = field(default_factory=dict)

    def table(self, name: str) -> pl.DataFrame:
        """One source table by name, whichever database holds it."""
        for tables in self.databases.values():
            if name in tables:
                return tables[name]
        if name in self.ground_truth:
            return self.ground_truth[name]
        raise KeyError(f"no simulated table named {name!r}")

    def row_counts(self) -> dict[str, int]:
        counts = {f"{db}.{t}": df.height for db, tables in self.databases.items() for t, df in tables.items()}
        counts.update({f"ground_truth.{t}": df.height for t, df in self.ground_truth.items()})
        return counts

    def simulation_run(self) -> dict[str, Any]:
        """The ``ground_truth.simulation_runs`` row describing this data set."""
        cfg = self.config
        return {
            "seed": cfg.seed,
            "scale": cfg.scale,
            "start_date": cfg.start_date,
            "end_date": cfg.end_date,
            "days": cfg.days,
            "drift": cfg.drift,
            "drift_cutover": cfg.cutover if cfg.drift else None,
            "n_bundles": cfg.n_bundles,
            "row_counts": self.row_counts(),
            "config": cfg.as_dict(),
            "generated_at": self.generated_at,
        }
