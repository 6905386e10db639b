"""Tiny hand-made ``raw`` frames for the warehouse tests (three days from the partitions' start + 4).

Day 0: order 1 (two lines, 10.00 + 3 x 0.99), order 2 at 23:59:50 whose payment lands after midnight
(day 1) with a 1.00 discount. Day 1: order 3 whose payment failed, order 4 paid on the second try.
Day 2: order 5.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import polars as pl

from storeml_assets.partitions import DAILY_PARTITIONS

DAY0: date = DAILY_PARTITIONS.start.date() + timedelta(days=4)
MONEY = pl.Decimal(12, 2)
TS = pl.Datetime("us", "UTC")


def at(day: int, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    base = datetime(DAY0.year, DAY0.month, DAY0.day, tzinfo=UTC) + timedelta(days=day)
    return base + timedelta(hours=hh, minutes=mm, seconds=ss)


def time_id(day: int) -> int:
    d = DAY0 + timedelta(days=day)
    return d.year * 10_000 + d.month * 100 + d.day


def key(day: int) -> str:
    return (DAY0 + timedelta(days=day)).isoformat()


def users() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "user_id": [1, 2, 3, 4],
            "email": ["a@x.io", "b@x.io", "c@x.io", "d@x.io"],
            "first_name": ["Ann", "Bob", "Cid", "Dee"],
            "last_name": ["Ames", "Bell", "Cole", "Dunn"],
            "dob": [date(1990, 1, 2), None, date(1985, 5, 6), date(2000, 12, 31)],
            "phone": ["+1 555 0101", None, "+1 555 0103", "+1 555 0104"],
            "country": ["US", "US", "DE", "FR"],
        }
    )


def categories() -> pl.DataFrame:
    return pl.DataFrame(
        {"category_id": [10, 20], "name": ["Shoes", "Books"], "parent_category_id": [None, None]}
    )


def products() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "product_id": [100, 101, 102],
            "sku": ["SKU-A", "SKU-B", "SKU-C"],
            "name": ["Runner", "Novel", "Bookmark"],
            "category_id": [10, 20, 20],
            "brand": ["Fleet", "Inkwell", "Inkwell"],
            "price": [Decimal("10.00"), Decimal("2.50"), Decimal("0.99")],
        },
        schema_overrides={"price": MONEY},
    )


def orders() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_id": [1, 2, 3, 4, 5],
            "user_id": [1, 2, 3, 1, 4],
            "ordered_at": [at(0, 10), at(0, 23, 59, 50), at(1, 12), at(1, 13), at(2, 9)],
            "status": ["delivered", "shipped", "payment_failed", "delivered", "processing"],
            "channel": ["web", "app", "mobile", "mobile", "web"],
            "subtotal_amount": [Decimal(v) for v in ("12.97", "5.00", "10.00", "3.49", "20.00")],
            "discount_amount": [Decimal(v) for v in ("0.00", "1.00", "0.00", "0.00", "0.00")],
        },
        schema_overrides={"ordered_at": TS, "subtotal_amount": MONEY, "discount_amount": MONEY},
    )


def order_items() -> pl.DataFrame:
    items = pl.DataFrame(
        {
            "order_item_id": [1, 2, 3, 4, 5, 6, 7],
            "order_id": [1, 1, 2, 3, 4, 4, 5],
            "product_id": [100, 102, 101, 100, 102, 101, 100],
            "quantity": [1, 3, 2, 1, 1, 1, 2],
            "unit_price": [Decimal(v) for v in ("10.00", "0.99", "2.50", "10.00", "0.99", "2.50", "10.00")],
            "line_total": [Decimal(v) for v in ("10.00", "2.97", "5.00", "10.00", "0.99", "2.50", "20.00")],
        },
        schema_overrides={"quantity": pl.Int32, "unit_price": MONEY, "line_total": MONEY},
    )
    # the extract copies the order's event time onto its lines
    return items.join(orders().select("order_id", "ordered_at"), on="order_id", how="left")


def payments() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "transaction_id": [1001, 1002, 1003, 1004, 1005, 1006],
            "order_id": [1, 2, 3, 4, 4, 5],
            "user_id": [1, 2, 3, 1, 1, 4],
            "amount": [Decimal(v) for v in ("12.97", "4.00", "10.00", "3.49", "3.49", "20.00")],
            "payment_type": ["credit_card", "paypal", "debit_card", "credit_card", "apple_pay", "gift_card"],
            "status": ["success", "success", "failed", "failed", "success", "success"],
            "processed_at": [
                at(0, 10, 0, 10),
                at(1, 0, 0, 5),
                at(1, 12, 0, 10),
                at(1, 13, 0, 5),
                at(1, 13, 2),
                at(2, 9, 0, 10),
            ],
        },
        schema_overrides={"amount": MONEY, "processed_at": TS},
    )
