"""The prediction log: a bounded queue drained in batches into ``mlops.predictions`` by one thread.

The request path only calls :meth:`PredictionLog.offer`, which never blocks: a full queue drops
the row and counts it. The writer holds a failed batch and retries with backoff (the queue fills
meanwhile), so after an outage the log drains without a restart.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence

from sqlalchemy.engine import Engine

from storeml_assets.db.urls import first_line
from storeml_assets.mlops.predictions import PredictionRow, insert_predictions

log = logging.getLogger("storeml.serving")


class PredictionLog:
    """Bounded, asynchronous, batched writer of :class:`PredictionRow`."""

    def __init__(self, engine: Engine, *, max_queue: int = 10_000, batch_size: int = 500,
                 max_backoff: float = 5.0) -> None:
        self._engine = engine
        self._queue: queue.Queue[PredictionRow] = queue.Queue(maxsize=max_queue)
        self._batch_size = batch_size
        self._max_backoff = max_backoff
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.dropped = 0
        self.written = 0
        self.failed_writes = 0
        self.pending_batch = 0
        self.last_error: str | None = None

    @property
    def depth(self) -> int:
        return self._queue.qsize() + self.pending_batch

    def offer(self, rows: Sequence[PredictionRow]) -> int:
        """Queue ``rows`` without waiting; returns how many were dropped because the queue is full."""
        dropped = 0
        for row in rows:
            try:
                self._queue.put_nowait(row)
            except queue.Full:
                dropped += 1
        if dropped:
            with self._lock:
                self.dropped += dropped
        return dropped

    def _take_batch(self) -> list[PredictionRow]:
        try:
            batch = [self._queue.get(timeout=0.2)]
        except queue.Empty:
            return []
        while len(batch) < self._batch_size:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write(self, batch: list[PredictionRow]) -> bool:
        try:
            with self._engine.begin() as conn:
                insert_predictions(conn, batch)
        except Exception as exc:  # a down database must not kill the writer: retried, reported in /health
            self.failed_writes += 1
            self.last_error = first_line(exc)
            return False
        self.written += len(batch)
        self.last_error = None
        return True

    def _run(self) -> None:
        backoff = 0.2
        batch: list[PredictionRow] = []
        while True:
            if not batch:
                if self._stop.is_set() and self._queue.empty():
                    return
                batch = self._take_batch()
                self.pending_batch = len(batch)
                if not batch:
                    continue
            if self._write(batch):
                batch, backoff = [], 0.2
                self.pending_batch = 0
                continue
            log.warning("prediction log write failed (%d rows held, %d queued): %s",
                        len(batch), self._queue.qsize(), self.last_error)
            if self._stop.wait(backoff):
                return  # stopping while the database is down: the held rows are lost (counted below)
            backoff = min(backoff * 2, self._max_backoff)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="storeml-prediction-log", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        unwritten = self._queue.qsize() + self.pending_batch
        if unwritten:
            with self._lock:
                self.dropped += unwritten
            log.warning("prediction log stopped with %d rows unwritten (counted as dropped)", unwritten)
