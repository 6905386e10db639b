"""``simulate``: the parts of the simulation, each on its own random stream, composed in order."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from storeml_assets.synthetic.simulator.carts import cart_tables
from storeml_assets.synthetic.simulator.catalogue import build_catalog
from storeml_assets.synthetic.simulator.common import History
from storeml_assets.synthetic.simulator.config import SimulatedData, SimulationConfig
from storeml_assets.synthetic.simulator.customers import build_customers, propensity_truth
from storeml_assets.synthetic.simulator.demand import expected_demand, taste_choice
from storeml_assets.synthetic.simulator.drift import drift_truth
from storeml_assets.synthetic.simulator.orders import build_orders, bundle_truth
from storeml_assets.synthetic.simulator.personas import persona_truth
from storeml_assets.synthetic.simulator.profiles import user_profiles
from storeml_assets.synthetic.simulator.promotions import plan_codes, promotion_tables
from storeml_assets.synthetic.simulator.sessions import build_sessions
from storeml_assets.synthetic.simulator.storefront import storefront_tables
from storeml_assets.synthetic.simulator.taste import appeal_truth, build_taste, taste_truth


def simulate(config: SimulationConfig) -> SimulatedData:
    """Generate every source table and the ground truth for ``config``."""
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    history = History.of(config)

    t0 = time.perf_counter()
    cat = build_catalog(config, config.preset)
    timings["catalog"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    customers = build_customers(history, config.preset)
    timings["users"] = time.perf_counter() - t0

    plan = plan_codes(history)  # the codes the orders redeem
    taste = build_taste(history, cat, customers.n)  # what each customer likes

    t0 = time.perf_counter()
    orders = build_orders(history, cat, customers, plan, taste)
    timings["orders"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    sessions = build_sessions(history, cat, customers, orders, taste)
    timings["sessions_interactions"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    storefront = storefront_tables(history, cat, customers, orders, plan, sessions.order_session)
    timings["storefront"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    carts = cart_tables(history, cat, customers, orders, sessions)
    timings["carts"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    promotions = promotion_tables(history, plan, customers, orders, storefront["orders"])
    timings["promotions"] = time.perf_counter() - t0

    databases = {
        "auth_db": {
            "users": customers.users,
            "user_sessions": sessions.user_sessions,
            "user_profiles": user_profiles(history, cat, customers, orders),
        },
        "product_db": {
            "categories": cat.categories,
            "products": cat.products,
            "product_variants": cat.variants,
            "product_images": cat.images,
            "product_inventory": cat.inventory,
        },
        "cart_db": carts,
        "promotion_db": promotions,
        "storefront_db": {
            "orders": storefront["orders"],
            "order_items": storefront["order_items"],
            "transactions": storefront["transactions"],
            "user_interactions": sessions.user_interactions,
            "reviews": storefront["reviews"],
        },
    }
    ground_truth = {
        "planted_bundles": bundle_truth(orders, cat),
        "customer_propensity": propensity_truth(history, customers),
        "drift_spec": drift_truth(
            history, storefront["orders"], storefront["order_items"], sessions.user_sessions, customers.n
        ),
        "review_sentiment": storefront["review_sentiment"],
        "expected_demand": expected_demand(history, cat, customers, orders.bundles, taste_choice(taste)),
        "customer_taste": taste_truth(taste, cat, customers.user_ids),
        "product_appeal": appeal_truth(taste, cat),
        "customer_personas": persona_truth(history, customers, config.preset.n_orders),
    }
    timings["total"] = time.perf_counter() - t_all
    generated_at = datetime.now(UTC)  # wall clock; not part of any frame
    return SimulatedData(config, databases, ground_truth, generated_at, timings)
