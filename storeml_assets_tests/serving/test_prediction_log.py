"""The prediction log against a migrated database: requests COPYed as one row each, read back per
prediction through ``mlops.v_predictions``; the bounded queue drops whole requests and counts them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from storeml_assets.db.urls import sqlalchemy_url
from storeml_assets.mlops.predictions import (
    PredictionRequest,
    PredictionRow,
    count_predictions,
    insert_predictions,
    predictions_between,
    predictions_of_request,
    write_requests,
)
from storeml_assets.serving.predlog import PredictionLog
from storeml_assets_tests.monitoring.helpers import migrate_storeml

AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _request(request_id: str, n: int, *, at: datetime = AT, family: str = "purchase_propensity") -> PredictionRequest:
    return PredictionRequest(
        family=family, model_name=family, model_version="4", request_id=request_id, timestamp=at,
        latency_ms=12.5,
        inputs=[{"frequency": float(i), "city": f"city {i}"} for i in range(n)],
        outputs=[{"prediction": i % 2, "score": i / 10, "confidence": 0.5 + i / 100} for i in range(n)],
    )


@pytest.fixture
def engine(isolated_env: dict[str, str]) -> Iterator[sa.engine.Engine]:
    url = migrate_storeml()
    engine = sa.create_engine(sqlalchemy_url(url))
    yield engine
    engine.dispose()


def test_a_request_is_one_row_read_back_as_one_prediction_per_instance(engine: sa.engine.Engine) -> None:
    awkward = {"note": 'tab\there, newline\nthere, back\\slash, "quotes", \u00e9t\u00e9 \U0001f600', "n": np.float64(2.5)}
    odd = PredictionRequest(
        family="purchase_propensity", model_name="purchase_propensity", model_version="4", request_id="odd\tid",
        timestamp=AT, latency_ms=3.0, inputs=[awkward, {"note": None, "n": float("nan")}],
        outputs=[{"prediction": "a", "confidence": None}, {"prediction": "b", "confidence": 0.75}],
    )
    with engine.begin() as conn:
        assert write_requests(conn, [_request("r1", 3), odd]) == 5
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from mlops.prediction_requests")).scalar_one() == 2
        assert count_predictions(conn) == 5
        assert count_predictions(conn, "purchase_propensity") == 5 and count_predictions(conn, "other") == 0
        rows = predictions_of_request(conn, "r1")
        weird = predictions_of_request(conn, "odd\tid")
    assert [r["input"] for r in rows] == [{"frequency": float(i), "city": f"city {i}"} for i in range(3)]
    assert [r["output"]["score"] for r in rows] == [0.0, 0.1, 0.2]
    assert [r["confidence"] for r in rows] == [0.5, 0.51, 0.52]
    assert {(r["family"], r["model_version"], r["latency_ms"], r["timestamp"]) for r in rows} == {
        ("purchase_propensity", "4", 12.5, AT)}
    assert weird[0]["input"] == {"note": awkward["note"], "n": 2.5}
    assert weird[1]["input"] == {"note": None, "n": None}  # NaN is not JSON: logged as null
    assert [r["confidence"] for r in weird] == [None, 0.75]


def test_rows_logged_one_by_one_and_requests_show_together(engine: sa.engine.Engine) -> None:
    rows = [PredictionRow(family="purchase_propensity", model_name="purchase_propensity", model_version="3",
                          input={"frequency": float(i)}, output={"prediction": 1}, confidence=0.9,
                          latency_ms=5.0, request_id="grouped", timestamp=AT + timedelta(seconds=1))
            for i in range(4)]
    with engine.begin() as conn:
        assert insert_predictions(conn, rows) == 4
        write_requests(conn, [_request("later", 2, at=AT + timedelta(seconds=2)),
                              _request("elsewhere", 2, family="review_sentiment")])
        conn.execute(sa.text("insert into mlops.predictions (family, model_name, input, output, \"timestamp\") "
                             "values ('purchase_propensity', 'purchase_propensity', '{\"one\": 1}', '{}', :at)"),
                     {"at": AT})
    with engine.connect() as conn:
        grouped = conn.execute(sa.text("select count(*) from mlops.prediction_requests where request_id = 'grouped'"))
        assert grouped.scalar_one() == 1  # four rows of one request: one logged request
        window = predictions_between(conn, "purchase_propensity", AT, AT + timedelta(minutes=1))
        before = predictions_between(conn, "purchase_propensity", AT - timedelta(minutes=1), AT)
    assert [r["input"] for r in window] == [{"one": 1}] + [{"frequency": float(i)} for i in range(4)] + [
        {"frequency": 0.0, "city": "city 0"}, {"frequency": 1.0, "city": "city 1"}]
    assert [r["confidence"] for r in window[1:5]] == [0.9] * 4
    assert before == []


def _wait(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("gave up waiting")
        time.sleep(0.05)


def test_the_queue_drops_whole_requests_beyond_its_bound_and_writes_the_rest(engine: sa.engine.Engine) -> None:
    log = PredictionLog(engine, max_queue=25, batch_size=10)
    # not started: nothing drains, so the bound is what decides
    assert [log.offer(_request(f"q{i}", 10)) for i in range(4)] == [0, 0, 10, 10]
    assert log.offer(_request("fits", 5)) == 0
    assert (log.depth, log.dropped) == (25, 20)
    log.start()
    try:
        _wait(lambda: log.written == 25 and log.depth == 0)
    finally:
        log.stop()
    with engine.connect() as conn:
        assert count_predictions(conn) == 25
        ids = conn.execute(sa.text("select request_id from mlops.prediction_requests order by id")).scalars().all()
    assert ids == ["q0", "q1", "fits"]
    assert log.dropped == 20 and log.failed_writes == 0


def test_a_request_body_is_logged_as_received_and_read_per_instance(engine: sa.engine.Engine) -> None:
    inputs: list[dict[str, Any]] = [{"frequency": 1, "city": "Lille\tnord"}, {"frequency": 2.5, "city": None}]
    body = '{\n  "instances": [{"frequency": 1, "city": "Lille\\tnord"},\r\n {"frequency": 2.5, "city": null}]}'
    request = PredictionRequest(
        family="purchase_propensity", model_name="purchase_propensity", model_version="4", request_id="body",
        timestamp=AT, latency_ms=2.0, inputs=inputs, inputs_json=body,
        outputs=[{"prediction": 1, "confidence": 0.8}, {"prediction": 0, "confidence": 0.6}],
    )
    with engine.begin() as conn:
        assert write_requests(conn, [request]) == 2
    with engine.connect() as conn:
        stored = conn.execute(sa.text("select instances::text from mlops.prediction_requests")).scalar_one()
        rows = predictions_of_request(conn, "body")
        assert count_predictions(conn) == 2
    assert stored == body  # not encoded again
    assert [r["input"] for r in rows] == inputs
    assert [r["confidence"] for r in rows] == [0.8, 0.6]


def test_mismatched_outputs_name_the_request() -> None:
    with pytest.raises(ValueError, match="request 'bad': 2 inputs but 1 outputs"):
        PredictionRequest(family="f", model_name="f", model_version="1", request_id="bad", timestamp=AT,
                          latency_ms=1.0, inputs=[{}, {}], outputs=[{}])


def test_encoding_fast_paths_write_what_the_sanitiser_would() -> None:
    from storeml_assets.mlops.predictions import _float_array, _json_array, _text

    plain = '{"instances": [{"city": "Lille"}]}'
    assert _text(plain) is plain  # nothing to escape: not copied
    assert _text("a\tb\\c\nd\re") == "a\\tb\\\\c\\nd\\re"
    assert _float_array([0.5, 1e-05, 2.0]) == "{0.5,1e-05,2.0}"
    assert _float_array([0.5, float("nan"), None, float("inf"), np.float64(0.25), True, 3]) == (
        "{0.5,NULL,NULL,NULL,0.25,1.0,3.0}")
    assert _float_array(iter([0.75])) == "{0.75}"
    assert json_loads(_json_array([{"score": 0.1, "nan": float("nan"), "inf": float("-inf"), "city": "été"}])) == [
        {"score": 0.1, "nan": None, "inf": None, "city": "été"}]
    assert json_loads(_json_array([{"n": np.float64(2.5), "i": np.int64(3), 1: "key"}])) == [
        {"n": 2.5, "i": 3, "1": "key"}]  # numpy scalars and non-text keys: through the sanitiser


def json_loads(text: str) -> Any:
    import json

    return json.loads(text)


def test_the_writer_lingers_for_a_batch_and_writes_it_once_full(engine: sa.engine.Engine) -> None:
    log = PredictionLog(engine, batch_size=3, linger_seconds=60.0)
    log.start()
    try:
        log.offer(_request("first", 1))
        time.sleep(0.5)
        assert log.written == 0  # lingering: a lone request waits for company (up to linger_seconds)
        log.offer(_request("second", 1))
        log.offer(_request("third", 1))  # the batch is full: the writer is woken at once, not after 60 s
        _wait(lambda: log.written == 3, timeout=20.0)
    finally:
        log.stop()
    with engine.connect() as conn:
        ids = conn.execute(sa.text("select request_id from mlops.prediction_requests order by id")).scalars().all()
    assert ids == ["first", "second", "third"]
