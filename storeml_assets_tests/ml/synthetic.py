"""Seeded synthetic customer feature frames with a known logistic purchase propensity."""

from __future__ import annotations

import numpy as np
import pandas as pd

from storeml_assets.ml.train import FeatureSpec

NUMERIC = ["recency_days", "frequency", "monetary", "tenure_days", "sessions", "cart_adds", "rating", "promo_uses"]
CATEGORICAL = ["channel", "tenure_band"]
FEATURES = FeatureSpec(numeric=NUMERIC, categorical=CATEGORICAL)
LABEL = "purchased_30d"
PROPENSITY = "true_propensity"
SEGMENTS = ["channel", "tenure_band"]

_CHANNEL_EFFECT = {"web": 0.0, "app": 0.5, "email": -0.4}


def customer_frame(rows: int, seed: int, *, shift: dict[str, float] | None = None) -> pd.DataFrame:
    """``rows`` customers; ``shift`` adds a constant (in units of the column's std) to numeric columns.

    The label is drawn from the true propensity computed on the *unshifted* features, so a shift
    changes the feature distribution (drift) without changing the concept.
    """
    rng = np.random.default_rng(seed)
    channel = rng.choice(list(_CHANNEL_EFFECT), size=rows, p=[0.5, 0.3, 0.2])
    tenure = rng.gamma(2.0, 200.0, rows)
    frequency = rng.poisson(3.0, rows).astype(float)
    recency = rng.exponential(40.0, rows)
    monetary = rng.lognormal(4.0, 0.6, rows)
    sessions = rng.poisson(6.0 + frequency, rows).astype(float)
    cart_adds = rng.poisson(1.0 + 0.3 * sessions, rows).astype(float)
    rating = np.clip(rng.normal(4.0, 0.7, rows), 1.0, 5.0)
    promo_uses = rng.poisson(0.8, rows).astype(float)

    logit = (
        -1.4
        - 0.035 * recency
        + 0.45 * frequency
        + 0.25 * (np.log(monetary) - 4.0)
        + 0.12 * cart_adds
        + 0.4 * (rating - 4.0)
        + np.vectorize(_CHANNEL_EFFECT.get)(channel)
        + 0.3 * np.tanh((tenure - 400.0) / 200.0)
    )
    propensity = 1.0 / (1.0 + np.exp(-logit))
    label = (rng.random(rows) < propensity).astype(int)

    frame = pd.DataFrame(
        {
            "customer_id": np.arange(rows),
            "recency_days": recency,
            "frequency": frequency,
            "monetary": monetary,
            "tenure_days": tenure,
            "sessions": sessions,
            "cart_adds": cart_adds,
            "rating": rating,
            "promo_uses": promo_uses,
            "channel": channel,
            "tenure_band": pd.cut(tenure, [-1, 180, 540, np.inf], labels=["new", "regular", "loyal"]).astype(str),
            PROPENSITY: propensity,
            LABEL: label,
        }
    )
    for column, sigmas in (shift or {}).items():
        frame[column] = frame[column] + sigmas * frame[column].std()
    return frame
