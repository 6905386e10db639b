"""The purchase check behind reviews, on hand-made raw tables in a real database."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import sqlalchemy as sa

from storeml_assets.db.urls import sqlalchemy_url
from storeml_assets.io.postgres_io_manager import store_frame
from storeml_assets.sources.catalog import CATALOG
from storeml_assets.sources.integrity import check_primary_key, check_reference, check_reviews_purchased
from storeml_assets_tests.sources.plans import per_row_subqueries, plans_of

T0 = datetime(2026, 10, 1, 12, tzinfo=UTC)
T1 = datetime(2026, 10, 5, 12, tzinfo=UTC)


def test_reviews_must_be_backed_by_a_purchase(fresh_db: str) -> None:
    store_frame(fresh_db, "raw", "orders", pl.DataFrame(
        {"order_id": [1, 2], "user_id": [10, 20], "ordered_at": [T0, T0], "status": ["delivered", "payment_failed"]}
    ))
    store_frame(fresh_db, "raw", "order_items", pl.DataFrame(
        # order 1 holds product 100 on two lines: its review is still one review, judged once
        {"order_item_id": [1, 2, 3], "order_id": [1, 2, 1], "product_id": [100, 200, 100], "ordered_at": [T0] * 3}
    ))
    reviews = pl.DataFrame({
        "review_id": [1, 2, 3, 4, 5],
        # good; wrong product; failed payment; someone else's order; order not extracted yet
        "order_id": [1, 1, 2, 1, 99],
        "user_id": [10, 10, 20, 30, 10],
        "product_id": [100, 999, 200, 100, 100],
        "created_at": [T1] * 5,
    })
    store_frame(fresh_db, "raw", "reviews", reviews)
    engine = sa.create_engine(sqlalchemy_url(fresh_db))
    try:
        with engine.connect() as conn:
            result = check_reviews_purchased(conn)
    finally:
        engine.dispose()
    assert not result.passed
    assert result.figures["violations"] == 3
    assert result.figures["sample"] == ["2", "3", "4"]
    assert result.figures["checked_reviews"] == 4 and result.figures["awaiting_order"] == 1


def test_checks_are_set_based_with_no_subquery_per_row(fresh_db: str) -> None:
    """The reviews and reference checks run as joins the planner can hash, so they scale with raw."""
    store_frame(fresh_db, "raw", "orders", pl.DataFrame(
        {"order_id": [1], "user_id": [10], "ordered_at": [T0], "status": ["delivered"]}
    ))
    store_frame(fresh_db, "raw", "order_items", pl.DataFrame(
        {"order_item_id": [1], "order_id": [1], "product_id": [100], "ordered_at": [T0]}
    ))
    store_frame(fresh_db, "raw", "reviews", pl.DataFrame(
        {"review_id": [1], "order_id": [1], "user_id": [10], "product_id": [100], "created_at": [T1]}
    ))
    items = CATALOG["order_items"]
    engine = sa.create_engine(sqlalchemy_url(fresh_db))
    try:
        plans = plans_of(engine, lambda conn: (
            check_reviews_purchased(conn),
            check_reference(conn, items, items.references[0]),
            check_primary_key(conn, items),
        ))
    finally:
        engine.dispose()
    assert len(plans) >= 3
    assert per_row_subqueries(plans) == []
