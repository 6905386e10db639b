"""External sources, piece by piece: text ids, payments-less orders, the data-derived partition start,
real-data shape counts, readiness reasons and `--select` (each against a real Postgres where one is read)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import psycopg2
import pyarrow as pa
import pytest
import sqlalchemy as sa

from storeml_assets.runner import parse_selection
from storeml_assets.settings import Settings
from storeml_assets.sources.catalog import CATALOG
from storeml_assets.sources.doctor import Readiness
from storeml_assets.sources.external import TEXT_ID_SUFFIX, arrow_field, integer_ids, surrogate_id
from storeml_assets.sources.partitions import data_partitions_start, order_day_bounds
from storeml_assets.sources.quality import check_real_data_shapes
from storeml_assets.warehouse.transform import build_transactions


def _execute(url: str, statement: str) -> None:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def test_text_ids_become_the_same_integers_in_every_table() -> None:
    users = pa.table({"user_id": ["cust-1", "cust-2", None], "email": ["a", "b", "c"]})
    orders = pa.table({"order_id": ["o-1", "o-2"], "user_id": ["cust-2", " cust-1 "]})
    converted_users, names = integer_ids(CATALOG["users"], users)
    converted_orders, order_names = integer_ids(CATALOG["orders"], orders)
    assert names == ["user_id"] and order_names == ["order_id", "user_id"]
    assert converted_users.schema.field("user_id").type == pa.int64()
    ids = converted_users.column("user_id").to_pylist()
    assert ids[2] is None and ids[0] != ids[1] and all(i >= 0 for i in ids[:2])
    # the same customer, whitespace aside, is the same number in orders
    assert converted_orders.column("user_id").to_pylist() == [ids[1], ids[0]]
    # the key's text is kept; a reference's is not
    assert converted_users.column("user_id" + TEXT_ID_SUFFIX).to_pylist() == ["cust-1", "cust-2", None]
    assert "user_id" + TEXT_ID_SUFFIX not in converted_orders.column_names
    assert surrogate_id("cust-1") == ids[0] < 2**63


def test_integer_ids_are_left_alone() -> None:
    table = pa.table({"user_id": [1, 2], "name": ["x", "y"]})
    same, names = integer_ids(CATALOG["users"], table)
    assert names == [] and same.equals(table)


def test_contract_types_map_to_the_extracts_arrow_types() -> None:
    assert arrow_field("price", "numeric", 12, 2).type == pa.decimal128(12, 2)
    assert arrow_field("ordered_at", "timestamptz", None, None).type == pa.timestamp("us", tz="UTC")
    assert arrow_field("tags", "_text", None, None).type == pa.list_(pa.string())
    assert arrow_field("ref", "uuid", None, None).type == pa.string()


def test_without_payments_an_order_not_cancelled_is_one_transaction() -> None:
    at = datetime(2025, 3, 1, 12, tzinfo=UTC)
    orders = pl.DataFrame({
        "order_id": [1, 2, 3, 4], "user_id": [10, None, 11, 12], "ordered_at": [at] * 4,
        "status": ["delivered", "delivered", " Cancelled ", "payment_failed"], "channel": ["web"] * 4,
        "discount_amount": [0.0] * 4,
    })
    items = pl.DataFrame({"order_id": [1, 1, 2, 3], "line_total": [5.0, -5.0, 7.5, 3.0]})
    payments = pl.DataFrame(schema={"transaction_id": pl.Int64, "order_id": pl.Int64, "payment_type": pl.String,
                                    "status": pl.String, "processed_at": pl.Datetime("us", "UTC")})
    assert build_transactions(orders, items, payments).height == 0
    facts = build_transactions(orders, items, payments, without_payments=True)
    assert facts["transaction_id"].to_list() == [1, 2]
    assert facts["customer_id"].to_list() == [10, None]  # the guest order stays, without a customer
    assert [float(v) for v in facts["transaction_amount"]] == [0.0, 7.5]  # a return nets its line out
    assert facts["time_id"].to_list() == [20250301, 20250301]
    late = orders.with_columns(pl.lit(datetime(2025, 3, 1, 23, 30, tzinfo=UTC)).alias("ordered_at"))
    berlin = build_transactions(late, items, payments, without_payments=True, day_timezone="Europe/Berlin")
    assert berlin["time_id"].to_list() == [20250302, 20250302]  # already March 2 in Berlin
    assert berlin["transaction_ts"].dtype == pl.Datetime("us", "UTC")


def _settings(tmp_path: Path, storefront_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "project_root": Path(__file__).resolve().parents[2], "home": tmp_path, "server_url": None,
        "database_urls": {"storefront_db": storefront_url}, "source_mode": "external",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def test_the_partitions_start_at_the_first_order_unless_configured(fresh_db: str, tmp_path: Path) -> None:
    settings = _settings(tmp_path, fresh_db)
    assert data_partitions_start(settings) == settings.partitions_start  # no orders table: the default
    _execute(fresh_db, "create table orders (order_id text, ordered_at timestamptz)")
    assert order_day_bounds(settings) is None
    _execute(fresh_db, "insert into orders values ('a', '2024-03-05 23:30+00'), ('b', '2024-07-01 10:00+00')")
    assert order_day_bounds(settings) == (date(2024, 3, 5), date(2024, 7, 1))
    assert data_partitions_start(settings) == "2024-03-05"
    # a storefront in Berlin: 23:30 UTC on March 5 is already March 6 there
    berlin = _settings(tmp_path, fresh_db, day_timezone="Europe/Berlin")
    assert order_day_bounds(berlin) == (date(2024, 3, 6), date(2024, 7, 1))
    configured = _settings(tmp_path, fresh_db, partitions_start="2024-01-01", partitions_start_set=True)
    assert data_partitions_start(configured) == "2024-01-01"
    assert data_partitions_start(_settings(tmp_path, fresh_db, source_mode="synthetic")) == "2026-01-01"


def test_real_data_shapes_are_counted_with_samples(fresh_db: str) -> None:
    _execute(fresh_db, "create schema raw")
    _execute(fresh_db, "create table raw.order_items (order_item_id bigint, quantity int, unit_price numeric, "
                       "line_total numeric)")
    _execute(fresh_db, "insert into raw.order_items values (1, 2, 5, 10), (2, -1, 5, -5), (3, 1, 0, 0), "
                       "(4, 1, null, null)")
    _execute(fresh_db, "create table raw.products (product_id bigint, sku text, name text, description text, "
                       "price numeric)")
    _execute(fresh_db, "insert into raw.products values (1, 'A', '  Mug\t blue ', repeat('x', 2000), 0), "
                       "(2, 'B', 'Plate', 'ok', null)")
    engine = sa.create_engine(fresh_db.replace("postgresql://", "postgresql+psycopg2://", 1))
    try:
        with engine.connect() as conn:
            lines = check_real_data_shapes(conn, "order_items")
            products = check_real_data_shapes(conn, "products")
            conn.execute(sa.text("update raw.order_items set quantity = 0"))
            unusable = check_real_data_shapes(conn, "order_items")
    finally:
        engine.dispose()
    assert lines.passed
    assert lines.figures["negative_quantity"] == 1 and lines.figures["negative_quantity_sample"] == ["2"]
    assert lines.figures["zero_price"] == 1 and lines.figures["missing_price"] == 1
    assert lines.figures["usable_rows"] == 2  # a return and a line without a price are not usable
    assert products.figures["odd_whitespace_in_name"] == 1 and products.figures["long_description"] == 1
    assert products.figures["zero_price"] == 1 and products.figures["missing_price"] == 1
    assert not unusable.passed and "no usable row" in unusable.description


def test_readiness_says_why_a_purpose_is_skipped() -> None:
    assert Readiness("reviews", 200, "sentiment analysis", 0).reason == (
        "reviews has 0 rows < 200 (sentiment analysis needs reviews)")
    assert Readiness("reviews", 200, "sentiment analysis", None).reason == (
        "reviews is missing (sentiment analysis needs reviews)")
    assert Readiness("reviews", 200, "sentiment analysis", 250).reason == ""
    family = Readiness("reviews", 200, "sentiment analysis needs reviews", 3, "review_sentiment",
                       "sentiment analysis needs reviews")
    assert family.reason == "reviews has 3 rows < 200 (sentiment analysis needs reviews)"


def test_select_names_groups_and_refuses_others() -> None:
    assert parse_selection("sources, bundles") == {"data", "marts"}
    assert parse_selection("") == {"data", "marts", "models", "monitoring"}
    with pytest.raises(ValueError, match="'reviews', which is not one of sources"):
        parse_selection("sources,reviews")


def test_propensity_trains_when_a_categorical_feature_is_never_filled() -> None:
    """A storefront without profiles or reviews has no segment or rating for anyone: the model still trains."""
    import numpy as np
    import pandas as pd

    from storeml_assets.features.customer import FEATURE_SPEC, LABEL
    from storeml_assets.ml.train import predict_scores, train_model

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({column: rng.random(600) for column in FEATURE_SPEC.numeric})
    for column in FEATURE_SPEC.categorical:
        frame[column] = None
    frame["country"] = rng.choice(["DE", "FR"], 600)
    frame[FEATURE_SPEC.numeric[-1]] = np.nan  # and a numeric one (no reviews, no average rating)
    frame[LABEL] = (frame[FEATURE_SPEC.numeric[0]] > 0.5).astype(int)
    model = train_model(frame, label=LABEL, features=FEATURE_SPEC, seed=1)
    scores = predict_scores(model, frame, FEATURE_SPEC)
    assert np.corrcoef(scores, frame[LABEL])[0, 1] > 0.8
