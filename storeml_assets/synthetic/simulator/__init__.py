"""Vectorized, seeded storefront simulator.

``simulate(config)`` returns, per source database, a mapping table -> polars DataFrame whose
columns match the DDL in ``sql/<database>/`` (a subset: ``created_at``/``updated_at`` come from
column defaults unless the table uses ``created_at`` as its event time), plus the planted ground
truth that tests and the ML assets read (``ground_truth`` schema in the ``storeml`` database).

All randomness flows from ``config.seed`` through one random stream per part of the simulation
(``common.Streams``), one module per stream: ``catalogue``, ``customers``, ``promotions`` (the
codes, then the promotion tables), ``orders``, ``sessions`` (with the visits), ``storefront``
(orders, transactions, reviews), ``carts``, ``profiles``, and ``drift`` (the new traffic
segment after the cut-over). Every frame is built in a fixed row order, so the same config gives
identical frames; ``compose.simulate`` puts the parts together.
"""

from storeml_assets.synthetic.simulator.compose import simulate
from storeml_assets.synthetic.simulator.config import (
    DEFAULT_END_DATE,
    PROPENSITY_HORIZON_DAYS,
    SimulatedData,
    SimulationConfig,
)
from storeml_assets.synthetic.simulator.drift import DRIFT_FEATURES, drift_features

__all__ = [
    "DEFAULT_END_DATE",
    "DRIFT_FEATURES",
    "PROPENSITY_HORIZON_DAYS",
    "SimulatedData",
    "SimulationConfig",
    "drift_features",
    "simulate",
]
