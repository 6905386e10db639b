"""The drift's new traffic segment, injected by one function for browse sessions and visits alike,
and the determinism of a drifted history."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from storeml_assets.synthetic.simulator import SimulationConfig, simulate
from storeml_assets.synthetic.simulator.common import (
    STREAM_DRIFT_BROWSE_TRAFFIC,
    STREAM_DRIFT_VISIT_TRAFFIC,
    History,
)
from storeml_assets.synthetic.simulator.config import DAY
from storeml_assets.synthetic.simulator.customers import Customers, build_customers
from storeml_assets.synthetic.simulator.drift import with_drift_traffic


def _population(drift: bool) -> tuple[History, Customers, np.ndarray, np.ndarray]:
    cfg = SimulationConfig(seed=11, scale="tiny", drift=drift)
    history = History.of(cfg)
    customers = build_customers(history, cfg.preset)
    rng = np.random.default_rng(5)
    user = rng.integers(0, customers.n, 2_000)
    start = rng.integers(history.start_ts, history.end_ts, 2_000)
    return history, customers, user, start


def test_without_drift_the_sessions_are_unchanged() -> None:
    history, customers, user, start = _population(drift=False)
    traffic = with_drift_traffic(history, STREAM_DRIFT_BROWSE_TRAFFIC, customers, user, start)
    assert np.array_equal(traffic.user, user) and np.array_equal(traffic.start, start)
    assert not traffic.extra.any() and not traffic.post.any()


def test_drift_doubles_the_sessions_after_the_cutover_with_active_customers() -> None:
    history, customers, user, start = _population(drift=True)
    after = int(np.count_nonzero(start >= history.cut_ts))
    assert after > 0
    traffic = with_drift_traffic(history, STREAM_DRIFT_BROWSE_TRAFFIC, customers, user, start)
    n = len(user)
    # the given sessions come first, untouched; the segment's follow
    assert np.array_equal(traffic.user[:n], user) and np.array_equal(traffic.start[:n], start)
    assert not traffic.extra[:n].any() and traffic.extra[n:].all()
    assert len(traffic) - n == after
    x_user, x_start = traffic.user[n:], traffic.start[n:]
    assert (x_start >= history.cut_ts).all()
    assert (x_start < customers.active_to[x_user]).all()
    assert (customers.active_to[x_user] > history.cut_ts + DAY).all()
    assert np.array_equal(traffic.post, traffic.start >= history.cut_ts)


def test_each_kind_of_session_draws_its_segment_from_its_own_stream() -> None:
    history, customers, user, start = _population(drift=True)
    browse = with_drift_traffic(history, STREAM_DRIFT_BROWSE_TRAFFIC, customers, user, start)
    again = with_drift_traffic(history, STREAM_DRIFT_BROWSE_TRAFFIC, customers, user, start)
    visits = with_drift_traffic(history, STREAM_DRIFT_VISIT_TRAFFIC, customers, user, start)
    assert np.array_equal(browse.user, again.user) and np.array_equal(browse.start, again.start)
    assert not np.array_equal(browse.start, visits.start)


@pytest.mark.parametrize("seed", [3, 4])
def test_a_drifted_history_is_deterministic_and_seeded(seed: int) -> None:
    cfg = SimulationConfig(seed=seed, scale="tiny", drift=True)
    first, second = simulate(cfg), simulate(cfg)
    other = simulate(dataclasses.replace(cfg, seed=seed + 10))
    for db, tables in first.databases.items():
        for name, df in tables.items():
            assert df.equals(second.databases[db][name]), name
    for name, df in first.ground_truth.items():
        assert df.equals(second.ground_truth[name]), name
    assert not first.table("user_sessions").equals(other.table("user_sessions"))
    assert not first.table("drift_spec").equals(other.table("drift_spec"))
