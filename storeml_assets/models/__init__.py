"""Customer features, the purchase-propensity model and its promotion (groups features, models, promotion)."""
