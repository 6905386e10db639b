"""Sessions and the interaction funnel (random stream ``STREAM_SESSIONS``; visits
``STREAM_VISITS``): a session per order, browse sessions that view products (and may click,
add to a cart or a wishlist), visits that touch no product, and ``user_interactions``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from storeml_assets.synthetic import vocab
from storeml_assets.synthetic.simulator.catalogue import Catalog
from storeml_assets.synthetic.simulator.common import (
    STREAM_DRIFT_BROWSE_TRAFFIC,
    STREAM_DRIFT_VISIT_TRAFFIC,
    STREAM_SESSIONS,
    STREAM_VISITS,
    History,
    Rng,
    draw_channel,
    pick,
    ts,
    within_group_index,
)
from storeml_assets.synthetic.simulator.config import (
    BROWSE_SESSIONS_PER_ORDER,
    CHANNELS,
    VISIT_SESSIONS_PER_ORDER,
)
from storeml_assets.synthetic.simulator.customers import Customers
from storeml_assets.synthetic.simulator.drift import Traffic, with_drift_traffic
from storeml_assets.synthetic.simulator.orders import Orders
from storeml_assets.synthetic.simulator.taste import BROWSE_STRENGTH, Taste

#: seconds between the steps of an order session's funnel
ORDER_STEP = 40
INTERACTION_TYPES = ("view", "click", "add_to_cart", "wishlist", "purchase")


@dataclass
class _OrderSessions:
    """The session of each order: ``e_views`` extra views, then per item a view, an optional
    click and an add-to-cart; the purchase at the order time."""

    e_views: np.ndarray
    it_click: np.ndarray
    it_first_step: np.ndarray
    start: np.ndarray
    end: np.ndarray


@dataclass
class Browse:
    """Browse sessions by browse index, and their product views by view index."""

    traffic: Traffic
    end: np.ndarray
    v_sess: np.ndarray  # browse index per view
    v_prod: np.ndarray
    v_click: np.ndarray
    v_cart: np.ndarray
    v_wish: np.ndarray
    v_first: np.ndarray  # first step of the view within its session

    @property
    def user(self) -> np.ndarray:
        return self.traffic.user

    @property
    def start(self) -> np.ndarray:
        return self.traffic.start


@dataclass
class _Visits:
    """Sessions without a product interaction: user index, start/end (epoch s), channel index,
    traffic-source index and device per session."""

    user: np.ndarray
    start: np.ndarray
    end: np.ndarray
    channel: np.ndarray
    source: np.ndarray
    device: np.ndarray


@dataclass
class Sessions:
    user_sessions: pl.DataFrame
    user_interactions: pl.DataFrame
    order_session: np.ndarray  # session_id per order
    browse: Browse
    browse_session: np.ndarray  # session_id per browse session
    v_t: np.ndarray  # time of each browse view
    it_cart_t: np.ndarray  # add-to-cart time per order line


def build_sessions(history: History, cat: Catalog, customers: Customers, orders: Orders, taste: Taste) -> Sessions:
    """Every session, ordered by start time, and every interaction, ordered by time. Viewed products
    follow the customer's ``taste`` at ``BROWSE_STRENGTH``."""
    rng = history.stream(STREAM_SESSIONS)
    osess = _order_sessions(rng, orders)
    w_user = np.cumsum((0.3 + customers.g) * np.maximum(customers.active_days, 1e-3))
    browse = _browse_sessions(rng, history, taste, customers, orders.n, w_user)
    # visits: sessions that leave from a landing, search or category page without touching a
    # product (most storefront sessions). Their own stream, appended last: every draw above and
    # below keeps its values for the order and browse sessions.
    visits = _visit_sessions(history, customers, orders.n, w_user)
    user_sessions, session_id_of = _session_table(rng, customers, orders, osess, browse, visits)
    order_session = session_id_of[:orders.n]
    browse_session = session_id_of[orders.n:orders.n + len(browse.traffic)]
    user_interactions, it_cart_t, v_t = _interactions(
        rng, taste, customers, orders, osess, browse, order_session, browse_session)
    return Sessions(user_sessions, user_interactions, order_session, browse, browse_session, v_t, it_cart_t)


def _order_sessions(rng: Rng, orders: Orders) -> _OrderSessions:
    n_orders, it_order = orders.n, orders.it_order
    e_views = rng.poisson(0.3, n_orders)
    it_click = rng.random(orders.n_items) < 0.85
    it_steps = 2 + it_click.astype(np.int64)
    order_item_steps = np.bincount(it_order, weights=it_steps, minlength=n_orders).astype(np.int64)
    cs = np.cumsum(it_steps)
    order_excl = np.cumsum(order_item_steps) - order_item_steps
    it_first_step = cs - it_steps - order_excl[it_order] + e_views[it_order]
    total_steps = e_views + order_item_steps
    start = orders.time - total_steps * ORDER_STEP - rng.integers(30, 300, n_orders)
    end = orders.time + rng.integers(30, 400, n_orders)
    return _OrderSessions(e_views, it_click, it_first_step, start, end)


def _browse_sessions(
    rng: Rng, history: History, taste: Taste, customers: Customers, n_orders: int, w_user: np.ndarray
) -> Browse:
    """``BROWSE_SESSIONS_PER_ORDER`` per order, over customers by ``w_user`` (cumulative weight)."""
    n_browse = int(round(n_orders * BROWSE_SESSIONS_PER_ORDER))
    b_user = pick(rng, w_user, n_browse)
    b_start = history.clock.sample(rng, customers.active_from[b_user].astype(np.float64),
                                   customers.active_to[b_user].astype(np.float64))
    traffic = with_drift_traffic(history, STREAM_DRIFT_BROWSE_TRAFFIC, customers, b_user, b_start)
    n_browse = len(traffic)
    b_views = np.minimum(rng.geometric(0.4, n_browse), 12)
    v_sess = np.repeat(np.arange(n_browse), b_views)
    n_v = len(v_sess)
    v_prod = taste.choose(rng.random(n_v), traffic.user[v_sess], strength=BROWSE_STRENGTH)
    v_click = rng.random(n_v) < 0.5
    v_cart = v_click & (rng.random(n_v) < 0.25)
    v_wish = v_click & (rng.random(n_v) < 0.12)
    v_steps = 1 + v_click + v_cart + v_wish
    v_cs = np.cumsum(v_steps)
    b_steps = np.bincount(v_sess, weights=v_steps, minlength=n_browse).astype(np.int64)
    v_first = v_cs - v_steps - (np.cumsum(b_steps) - b_steps)[v_sess]
    b_end = traffic.start + b_steps * 30 + rng.integers(10, 120, n_browse)
    return Browse(traffic, b_end, v_sess, v_prod, v_click, v_cart, v_wish, v_first)


def _visit_sessions(history: History, customers: Customers, n_orders: int, browse_weights: np.ndarray) -> _Visits:
    """``VISIT_SESSIONS_PER_ORDER`` visits per order, spread over customers like browse sessions
    (``browse_weights``: cumulative ``0.3 + g`` per active day, only while active). With drift on, the
    new traffic segment doubles the visits after the cut-over as it doubles the browse sessions."""
    rng = history.stream(STREAM_VISITS)
    n = int(round(n_orders * VISIT_SESSIONS_PER_ORDER))
    user = pick(rng, browse_weights, n)
    start = history.clock.sample(rng, customers.active_from[user].astype(np.float64),
                                 customers.active_to[user].astype(np.float64))
    traffic = with_drift_traffic(history, STREAM_DRIFT_VISIT_TRAFFIC, customers, user, start)
    end = traffic.start + rng.integers(5, 240, len(traffic))
    channel, source, device = _session_attributes(rng, draw_channel(rng, traffic.post), traffic.extra)
    return _Visits(traffic.user, traffic.start, end, channel, source, device)


def _session_attributes(rng: Rng, channel: np.ndarray, extra: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Channel, traffic-source index and device per session. Sessions of the drift's new traffic
    segment (``extra``) come from its own source and mostly on mobile."""
    channel = np.where(extra & (rng.random(len(channel)) < 0.8), 1, channel)
    source = pick(rng, np.cumsum(vocab.TRAFFIC_WEIGHTS), len(channel))
    source = np.where(extra, len(vocab.TRAFFIC_SOURCES), source)
    u = rng.random(len(channel))
    device = np.where(
        channel == 1, "mobile", np.where(channel == 2, np.where(u < 0.85, "mobile", "tablet"),
                                         np.where(u < 0.85, "desktop", "tablet"))
    )
    return channel, source, device


def _session_table(
    rng: Rng, customers: Customers, orders: Orders, osess: _OrderSessions, browse: Browse, visits: _Visits
) -> tuple[pl.DataFrame, np.ndarray]:
    """``user_sessions`` ordered by start time, and the session_id of each session by its index
    in orders, browse sessions, visits (concatenated)."""
    n_orders = orders.n
    ob_extra = np.concatenate([np.zeros(n_orders, dtype=bool), browse.traffic.extra])
    ob_chan, ob_src, ob_device = _session_attributes(
        rng, np.concatenate([orders.channel, draw_channel(rng, browse.traffic.post)]), ob_extra
    )
    s_user = np.concatenate([orders.user, browse.user, visits.user])
    s_start = np.concatenate([osess.start, browse.start, visits.start])
    s_end = np.concatenate([osess.end, browse.end, visits.end])
    s_chan = np.concatenate([ob_chan, visits.channel])
    src_idx = np.concatenate([ob_src, visits.source])
    device = np.concatenate([ob_device, visits.device])
    s_order = np.argsort(s_start, kind="stable")
    s_rank = np.empty_like(s_order)
    s_rank[s_order] = np.arange(len(s_order))
    sources = np.array(vocab.TRAFFIC_SOURCES + (vocab.DRIFT_TRAFFIC_SOURCE,))
    user_sessions = pl.DataFrame(
        {
            "session_id": np.arange(1, len(s_order) + 1, dtype=np.int64),
            "user_id": customers.user_ids[s_user[s_order]],
            "started_at": ts(s_start[s_order]),
            "ended_at": ts(s_end[s_order]),
            "channel": np.array(CHANNELS)[s_chan[s_order]],
            "device": device[s_order],
            "traffic_source": sources[src_idx[s_order]],
        }
    )
    return user_sessions, s_rank + 1


def _interactions(
    rng: Rng,
    taste: Taste,
    customers: Customers,
    orders: Orders,
    osess: _OrderSessions,
    browse: Browse,
    o_session: np.ndarray,
    b_session: np.ndarray,
) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """``user_interactions`` ordered by time (then type), the add-to-cart time per order line
    and the time of each browse view."""
    step = ORDER_STEP
    it_order, it_prod, it_click, o_user = orders.it_order, orders.it_prod, osess.it_click, orders.user
    jitter = rng.integers(0, 20, orders.n_items)
    it_view_t = osess.start[it_order] + osess.it_first_step * step + jitter
    it_click_t = it_view_t + step
    it_cart_t = it_view_t + step * (1 + it_click)
    it_paid = ~orders.failed[it_order]
    ev_order = np.repeat(np.arange(orders.n), osess.e_views)
    ev_t = osess.start[ev_order] + within_group_index(osess.e_views) * step + rng.integers(0, 20, len(ev_order))
    ev_prod = taste.choose(rng.random(len(ev_order)), o_user[ev_order], strength=BROWSE_STRENGTH)
    v_sess, v_prod, v_click, v_cart, v_wish = browse.v_sess, browse.v_prod, browse.v_click, browse.v_cart, browse.v_wish
    b_user = browse.user
    v_t = browse.start[v_sess] + browse.v_first * 30 + rng.integers(0, 15, len(v_sess))
    parts = [
        (o_session[ev_order], o_user[ev_order], ev_prod, 0, ev_t),
        (o_session[it_order], o_user[it_order], it_prod, 0, it_view_t),
        (o_session[it_order[it_click]], o_user[it_order[it_click]], it_prod[it_click], 1, it_click_t[it_click]),
        (o_session[it_order], o_user[it_order], it_prod, 2, it_cart_t),
        (o_session[it_order[it_paid]], o_user[it_order[it_paid]], it_prod[it_paid], 4, orders.time[it_order[it_paid]]),
        (b_session[v_sess], b_user[v_sess], v_prod, 0, v_t),
        (b_session[v_sess[v_click]], b_user[v_sess[v_click]], v_prod[v_click], 1, (v_t + 30)[v_click]),
        (b_session[v_sess[v_cart]], b_user[v_sess[v_cart]], v_prod[v_cart], 2, (v_t + 60)[v_cart]),
        (b_session[v_sess[v_wish]], b_user[v_sess[v_wish]], v_prod[v_wish], 3, (v_t + 60 + 30 * v_cart)[v_wish]),
    ]
    ia_sess = np.concatenate([p[0] for p in parts])
    ia_user = np.concatenate([p[1] for p in parts])
    ia_prod = np.concatenate([p[2] for p in parts])
    ia_type = np.concatenate([np.full(len(p[0]), p[3], dtype=np.int8) for p in parts])
    ia_time = np.concatenate([p[4] for p in parts]).astype(np.int64)
    ia_order = np.lexsort((ia_type, ia_time))
    user_interactions = pl.DataFrame(
        {
            "interaction_id": np.arange(1, len(ia_order) + 1, dtype=np.int64),
            "user_id": customers.user_ids[ia_user[ia_order]],
            "session_id": ia_sess[ia_order].astype(np.int64),
            "product_id": (ia_prod[ia_order] + 1).astype(np.int64),
            "interaction_type": pl.Series(np.array(INTERACTION_TYPES)[ia_type[ia_order]]),
            "occurred_at": ts(ia_time[ia_order]),
        }
    )
    return user_interactions, it_cart_t, v_t
