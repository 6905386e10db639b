"""The purchase check behind reviews, on hand-made raw tables in a real database."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import sqlalchemy as sa

from storeml_assets.db.urls import sqlalchemy_url
from storeml_assets.io.postgres_io_manager import store_frame
from storeml_assets.sources.integrity import check_reviews_purchased

T0 = datetime(2026, 10, 1, 12, tzinfo=UTC)
T1 = datetime(2026, 10, 5, 12, tzinfo=UTC)


def test_reviews_must_be_backed_by_a_purchase(fresh_db: str) -> None:
    store_frame(fresh_db, "raw", "orders", pl.DataFrame(
        {"order_id": [1, 2], "user_id": [10, 20], "ordered_at": [T0, T0], "status": ["delivered", "payment_failed"]}
    ))
    store_frame(fresh_db, "raw", "order_items", pl.DataFrame(
        {"order_item_id": [1, 2], "order_id": [1, 2], "product_id": [100, 200], "ordered_at": [T0, T0]}
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
