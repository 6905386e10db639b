"""MLOps core: model training and evaluation, drift summaries, promotion gates, MLflow tracking."""
