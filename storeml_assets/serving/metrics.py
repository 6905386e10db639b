"""Prometheus metrics of the serving API (one registry per app)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ServingMetrics:
    def __init__(self, *, queue_depth: Callable[[], float], dropped: Callable[[], float],
                 pool_in_use: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram("storeml_predict_latency_seconds", "Predict request latency.",
                                 ["family", "version", "status"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.requests = Counter("storeml_predict_requests", "Predict requests.", ["family", "version", "status"],
                                registry=self.registry)
        self.reloads = Counter("storeml_model_reloads", "Champion loads.", ["family", "outcome"],
                               registry=self.registry)
        Gauge("storeml_prediction_log_queue_depth", "Rows waiting for the prediction log.",
              registry=self.registry).set_function(queue_depth)
        Gauge("storeml_prediction_log_dropped", "Prediction-log rows dropped (queue full).",
              registry=self.registry).set_function(dropped)
        Gauge("storeml_db_pool_in_use", "Database connections checked out.",
              registry=self.registry).set_function(pool_in_use)
