"""Prometheus metrics of the serving API (one registry per app).

With one worker the gauges are read at scrape time. With several (``storeml serve --workers N``),
the command sets ``PROMETHEUS_MULTIPROC_DIR`` before the workers start: every worker then writes its
counters and histograms to files there, refreshes its gauges every ``refresh_seconds``, and
``/metrics`` (whichever worker answers) reports the sum over the live workers. Model reloads count
each worker's loads (two workers: two loads per promotion).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

#: Set by ``storeml serve --workers N`` (N > 1), or by the deployment: prometheus_client's multiprocess mode.
MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_mode() -> bool:
    """Whether metrics are shared between worker processes through files."""
    return bool(os.environ.get(MULTIPROC_DIR_ENV))


class ServingMetrics:
    def __init__(self, *, queue_depth: Callable[[], float], dropped: Callable[[], float],
                 pool_in_use: Callable[[], float], refresh_seconds: float = 1.0) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess = multiprocess_mode()
        self.latency = Histogram("storeml_predict_latency_seconds", "Predict request latency.",
                                 ["family", "version", "status"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.requests = Counter("storeml_predict_requests", "Predict requests.", ["family", "version", "status"],
                                registry=self.registry)
        self.reloads = Counter("storeml_model_reloads", "Champion loads.", ["family", "outcome"],
                               registry=self.registry)
        self._sources = {
            Gauge("storeml_prediction_log_queue_depth", "Predictions waiting for the prediction log.",
                  registry=self.registry, multiprocess_mode="livesum"): queue_depth,
            Gauge("storeml_prediction_log_dropped", "Predictions the log dropped (queue full).",
                  registry=self.registry, multiprocess_mode="livesum"): dropped,
            Gauge("storeml_db_pool_in_use", "Database connections checked out.",
                  registry=self.registry, multiprocess_mode="livesum"): pool_in_use,
        }
        self._refresh_seconds = refresh_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if not self.multiprocess:
            for gauge, source in self._sources.items():
                gauge.set_function(source)

    def refresh(self) -> None:
        """Write this worker's gauge values (multiprocess mode; with one worker they are read at scrape time)."""
        if self.multiprocess:
            for gauge, source in self._sources.items():
                gauge.set(source())

    def _run(self) -> None:
        while not self._stop.wait(self._refresh_seconds):
            self.refresh()

    def start(self) -> None:
        if self.multiprocess and self._thread is None:
            self.refresh()
            self._thread = threading.Thread(target=self._run, name="storeml-metrics", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop refreshing; in multiprocess mode this worker's live gauges leave the sum."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())

    def exposition(self) -> bytes:
        """The text format: this worker's registry, or every worker's in multiprocess mode."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        self.refresh()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
