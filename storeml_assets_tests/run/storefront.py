"""A small real-looking storefront for external mode: only users, products, orders and order items.

Shaped the way real storefronts are, not the way the simulator is: text ids (``cust-00042``, UUIDs for
products), guest orders without a customer, cancellations, returns as negative quantities, products
with odd whitespace, very long descriptions, zero or missing prices, a currency column, and a history
that ended a year ago. Two product pairs are planted as bundles (bought together far more often than
chance), so the mined rules can be checked against them.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import psycopg2
from psycopg2.extras import execute_values

USERS_DDL = """
create table users (
    user_id text primary key, first_name text, last_name text, dob date, phone text, email text,
    country text, signup_at timestamptz not null
)"""
PRODUCTS_DDL = """
create table products (
    product_id uuid primary key, sku text not null, name text not null, description text, category_id text,
    brand text, price numeric(10, 2)
)"""
ORDERS_DDL = """
create table orders (
    order_id text primary key, user_id text, ordered_at timestamptz not null, status text not null,
    channel text, total_amount numeric(12, 2), discount_amount numeric(12, 2), currency char(3) not null
);
create table order_items (
    order_item_id text primary key, order_id text not null references orders, product_id uuid not null,
    quantity integer not null, unit_price numeric(10, 2), line_total numeric(12, 2)
)"""


@dataclass(frozen=True)
class Storefront:
    """What was loaded, for the test's assertions."""

    orders: int
    guest_orders: int
    cancelled_orders: int
    returned_lines: int
    first_day: date
    last_day: date
    #: SKU pairs planted as bundles
    bundles: tuple[tuple[str, str], ...]


def _run(url: str, ddl: str, table: str, rows: Sequence[tuple[object, ...]]) -> None:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(ddl)
            if rows:
                execute_values(cur, f"insert into {table} values %s", rows, page_size=2000)
    finally:
        conn.close()


def load_storefront(urls: dict[str, str], *, seed: int = 7, customers: int = 400, orders: int = 2400,
                    history_days: int = 150, today: date | None = None) -> Storefront:
    """Create and fill users (auth), products (product) and orders + order_items (storefront): ``history_days``
    of orders, the last of them a year before ``today``."""
    rng = random.Random(seed)
    today = today or datetime.now(UTC).date()
    last_day = today - timedelta(days=366)
    first_day = last_day - timedelta(days=history_days - 1)

    user_ids = [f"cust-{i:05d}" for i in range(1, customers + 1)]
    users = [
        (uid, f"First{i}", f"Last{i}", date(1960 + i % 40, 1 + i % 12, 1 + i % 28), None if i % 5 else f"+49 {i:07d}",
         f"c{i}@example.com", rng.choice(["DE", "FR", "NL", "  de ", None]),
         datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC) - timedelta(days=rng.randint(1, 400)))
        for i, uid in enumerate(user_ids)
    ]
    _run(urls["auth_db"], USERS_DDL, "users", users)

    products = []
    for i in range(60):
        name = f"Product {i}" if i % 7 else f"  Product\t{i}  -- special!!  "
        price = None if i == 13 else (0 if i == 14 else round(5 + i * 1.37, 2))
        description = "long text " * 800 if i % 10 == 0 else f"about product {i}"
        products.append((str(uuid.UUID(int=rng.getrandbits(128))), f"SKU-{i:03d}", name, description,
                         f"cat-{i % 6}", f"Brand {i % 9}", price))
    _run(urls["product_db"], PRODUCTS_DDL, "products", products)
    ids = [p[0] for p in products]
    sku = {p[0]: p[1] for p in products}
    bundles = ((ids[1], ids[2]), (ids[3], ids[4]))

    # each customer has an activity level: the busy ones keep buying (something to learn for propensity)
    activity = [rng.paretovariate(1.5) for _ in user_ids]
    total_activity = sum(activity)
    order_rows, item_rows = [], []
    guests = cancelled = returned = 0
    days = (last_day - first_day).days + 1
    for n in range(orders):
        pick = rng.random() * total_activity
        index = 0
        while pick > activity[index] and index < len(activity) - 1:
            pick -= activity[index]
            index += 1
        user = None if rng.random() < 0.05 else user_ids[index]
        guests += user is None
        day = first_day + timedelta(days=rng.randrange(days))
        at = datetime(day.year, day.month, day.day, rng.randrange(24), rng.randrange(60), tzinfo=UTC)
        status = "delivered"
        roll = rng.random()
        if roll < 0.07:
            status, cancelled = "cancelled", cancelled + 1
        elif roll < 0.10:
            status = "returned"
        order_id = f"ord-{n:06d}"
        lines = [rng.choice(ids) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.3:
            lines += list(rng.choice(bundles))
        lines = list(dict.fromkeys(lines))
        total = 0.0
        for k, product in enumerate(lines):
            unit = next(p[6] for p in products if p[0] == product)
            quantity = rng.randint(1, 2)
            line_total = None if unit is None else round(unit * quantity, 2)
            total += line_total or 0
            item_rows.append((f"{order_id}-{k}", order_id, product, quantity, unit, line_total))
        if status == "returned":
            product = lines[0]
            unit = next(p[6] for p in products if p[0] == product)
            item_rows.append((f"{order_id}-r", order_id, product, -1, unit, None if unit is None else -unit))
            returned += 1
        order_rows.append((order_id, user, at, status, rng.choice(["web", "mobile", None]), round(total, 2), 0, "EUR"))
    _run(urls["storefront_db"], ORDERS_DDL, "orders", [])
    conn = psycopg2.connect(urls["storefront_db"])
    try:
        with conn, conn.cursor() as cur:
            execute_values(cur, "insert into orders values %s", order_rows, page_size=2000)
            execute_values(cur, "insert into order_items values %s", item_rows, page_size=2000)
    finally:
        conn.close()
    return Storefront(
        orders=orders, guest_orders=guests, cancelled_orders=cancelled, returned_lines=returned,
        first_day=first_day, last_day=last_day, bundles=tuple((sku[a], sku[b]) for a, b in bundles),
    )
