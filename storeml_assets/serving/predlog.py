"""The prediction log: a bounded queue of answered requests drained in batches into
``mlops.prediction_requests`` by one thread.

The request path only calls :meth:`PredictionLog.offer` with one :class:`PredictionRequest` (no
encoding, no copy of the rows), which never blocks: when the queued predictions would exceed
``max_queue`` the request's predictions are dropped and counted. The writer thread encodes each
request to JSON once and COPYs a batch in one transaction; it holds a failed batch and retries with
backoff (the queue fills meanwhile), so after an outage the log drains without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from sqlalchemy.engine import Engine

from storeml_assets.db.urls import first_line
from storeml_assets.mlops.predictions import PredictionRequest, write_requests

log = logging.getLogger("storeml.serving")


class PredictionLog:
    """Bounded, asynchronous, batched writer of :class:`PredictionRequest`; sizes count predictions."""

    def __init__(self, engine: Engine, *, max_queue: int = 10_000, batch_size: int = 500,
                 max_backoff: float = 5.0, linger_seconds: float = 0.05) -> None:
        if max_queue < 1 or batch_size < 1:
            raise ValueError(f"prediction log: max_queue ({max_queue}) and batch_size ({batch_size}) must be >= 1")
        self._engine = engine
        self._requests: deque[PredictionRequest] = deque()
        self._queued = 0  # predictions in self._requests
        self._ready = threading.Condition()
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._max_backoff = max_backoff
        self._linger = linger_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.written = 0
        self.failed_writes = 0
        self.pending_batch = 0
        self.last_error: str | None = None

    @property
    def depth(self) -> int:
        """Predictions waiting to be written (queued and held by the writer)."""
        return self._queued + self.pending_batch

    def offer(self, request: PredictionRequest) -> int:
        """Queue ``request`` without waiting; returns how many predictions were dropped (all of the request's when
        the queue cannot take them, else 0)."""
        size = len(request)
        with self._ready:
            if self._queued + size > self._max_queue:
                self.dropped += size
                return size
            self._requests.append(request)
            self._queued += size
            # the writer waits for a first request, then lingers until the batch is full: waking it for every
            # request in between (a thread switch and a GIL hand-over each) cost more than writing them
            if len(self._requests) == 1 or self._queued >= self._batch_size:
                self._ready.notify()
        return 0

    def _take_batch(self) -> list[PredictionRequest]:
        """Up to ``batch_size`` predictions' worth of requests (at least one request), waiting at most
        ``linger_seconds`` after the first for the batch to fill; [] after 0.2 s of an empty queue."""
        with self._ready:
            if not self._requests and not self._ready.wait_for(lambda: bool(self._requests), timeout=0.2):
                return []
            deadline = time.monotonic() + self._linger
            while self._queued < self._batch_size and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0 or not self._ready.wait(left):
                    break
            batch: list[PredictionRequest] = []
            rows = 0
            while self._requests and (not batch or rows + len(self._requests[0]) <= self._batch_size):
                request = self._requests.popleft()
                batch.append(request)
                rows += len(request)
            self._queued -= rows
            self.pending_batch = rows
        return batch

    def _write(self, batch: list[PredictionRequest]) -> bool:
        try:
            with self._engine.begin() as conn:
                written = write_requests(conn, batch)
        except Exception as exc:  # a down database must not kill the writer: retried, reported in /health
            self.failed_writes += 1
            self.last_error = first_line(exc)
            return False
        self.written += written
        self.last_error = None
        return True

    def _run(self) -> None:
        backoff = 0.2
        batch: list[PredictionRequest] = []
        while True:
            if not batch:
                if self._stop.is_set() and not self._requests:
                    return
                batch = self._take_batch()
                if not batch:
                    continue
            if self._write(batch):
                batch, backoff = [], 0.2
                self.pending_batch = 0
                continue
            log.warning("prediction log write failed (%d predictions held, %d queued): %s",
                        self.pending_batch, self._queued, self.last_error)
            if self._stop.wait(backoff):
                return  # stopping while the database is down: the held rows are lost (counted below)
            backoff = min(backoff * 2, self._max_backoff)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="storeml-prediction-log", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._ready:
            self._ready.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        unwritten = self._queued + self.pending_batch
        if unwritten:
            with self._ready:
                self.dropped += unwritten
            log.warning("prediction log stopped with %d predictions unwritten (counted as dropped)", unwritten)
