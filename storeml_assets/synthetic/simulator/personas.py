"""Planted customer personas (``ground_truth.customer_personas``): each customer's lifecycle persona at the
end of the history, derived from the latent variables :mod:`~storeml_assets.synthetic.simulator.customers`
already draws (activity multiplier, start of activity, churn), so no source table changes and no random
stream is drawn.

A persona is what the simulator knows about a customer that the storefront's data only reveals noisily:

- ``new``: became active in the last :data:`NEW_DAYS` days of the history;
- ``hibernating``: expected fewer than :data:`HIBERNATING_EXPECTED_ORDERS` orders in the last
  :data:`WINDOW_DAYS` days (churned before that window, or a very low purchase rate);
- ``at_risk``: churned within the last :data:`AT_RISK_DAYS` days, not hibernating;
- ``champion``: still active, buying at :data:`CHAMPION_ORDERS_PER_30D` or more orders per 30 days;
- ``regular``: every other active customer.

The rules apply in reverse order of that list (``new`` wins over everything). The segmentation family
measures the adjusted Rand index of its segments against these personas (its oracle); the personas are a
partition of latent states, not clusters with gaps, so no segmentation of the observed data reaches 1.0
(a supervised classifier on the customer features reaches about 0.75 at ``small``).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from storeml_assets.synthetic.simulator.common import History
from storeml_assets.synthetic.simulator.config import DAY
from storeml_assets.synthetic.simulator.customers import Customers

PERSONAS = ("new", "hibernating", "at_risk", "champion", "regular")
NEW_DAYS = 60
WINDOW_DAYS = 90
HIBERNATING_EXPECTED_ORDERS = 1.0
AT_RISK_DAYS = 60
CHAMPION_ORDERS_PER_30D = 2.0


def persona_truth(history: History, customers: Customers, n_orders_target: int) -> pl.DataFrame:
    """``ground_truth.customer_personas``: user_id, persona, the latent order rate per 30 days and the
    expected orders in the last :data:`WINDOW_DAYS` days of the history."""
    end = history.end_ts
    exposure = float(np.sum(customers.g * customers.active_days))
    base_rate = n_orders_target / exposure if exposure > 0 else 0.0  # orders per day at g = 1
    rate = base_rate * customers.g
    window_start = end - WINDOW_DAYS * DAY
    window_days = np.clip(customers.active_to - np.maximum(customers.active_from, window_start), 0, None) / DAY
    expected_window = rate * window_days
    days_since_churn = (end - customers.active_to) / DAY
    persona = np.full(customers.n, "regular", dtype=object)
    persona[rate * 30.0 >= CHAMPION_ORDERS_PER_30D] = "champion"
    persona[customers.churned & (days_since_churn < AT_RISK_DAYS)] = "at_risk"
    persona[expected_window < HIBERNATING_EXPECTED_ORDERS] = "hibernating"
    persona[(end - customers.active_from) / DAY < NEW_DAYS] = "new"
    return pl.DataFrame(
        {
            "user_id": customers.user_ids,
            "persona": pl.Series(persona.astype(str), dtype=pl.String),
            "order_rate_per_30d": rate * 30.0,
            "expected_orders_window": expected_window,
        }
    )
