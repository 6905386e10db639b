"""Customer-feature frames with a known propensity, for the serving tests and `make bench-serve`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from storeml_assets.features.customer import CATEGORICAL_FEATURES, LABEL, NUMERIC_FEATURES


def feature_frame(rows: int, seed: int) -> pd.DataFrame:
    """Customer features with a known propensity (frequency up, recency down)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.gamma(2.0, 5.0, rows) for c in NUMERIC_FEATURES})
    for column in CATEGORICAL_FEATURES:
        frame[column] = rng.choice(["a", "b", "c"], rows)
    logit = 0.3 * frame[NUMERIC_FEATURES[2]] - 0.2 * frame[NUMERIC_FEATURES[1]]
    frame[LABEL] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame
