"""The storefront's source tables: one catalog that the asset factory, checks and `doctor` share.

Each entry names the service database a table lives in, its primary key, its event-time column
(event tables are daily-partitioned on it) and the references it makes to other tables, which
may live in other services' databases (no foreign keys there, so storeml checks them).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Reference:
    """``column`` of this table must match ``target_column`` of ``target_table``."""

    column: str
    target_table: str
    target_column: str
    nullable: bool = False
    description: str = ""


@dataclass(frozen=True)
class SourceTable:
    name: str
    database: str
    description: str
    primary_key: tuple[str, ...]
    #: Event-time column for daily partitions; None for a dimension table.
    event_time: str | None = None
    #: For a child table without its own event time: ``(parent_table, join_column)``; the
    #: parent's event time is copied into the extract so the child can be partitioned too.
    event_time_from: tuple[str, str] | None = None
    references: tuple[Reference, ...] = field(default=())
    #: Minimum row count the blocking check enforces (all tables at least 1).
    min_rows: int = 1

    @property
    def partitioned(self) -> bool:
        return self.event_time is not None or self.event_time_from is not None

    @property
    def partition_column(self) -> str | None:
        """The column of ``raw.<name>`` the daily partitions slice on."""
        if self.event_time is not None:
            return self.event_time
        if self.event_time_from is not None:
            parent = CATALOG[self.event_time_from[0]]
            return parent.event_time
        return None


def _t(*tables: SourceTable) -> dict[str, SourceTable]:
    return {t.name: t for t in tables}


CATALOG: dict[str, SourceTable] = _t(
    # auth_db
    SourceTable("users", "auth_db", "Customer accounts.", ("user_id",), min_rows=100),
    SourceTable(
        "user_sessions",
        "auth_db",
        "Browsing sessions, by channel and device.",
        ("session_id",),
        event_time="started_at",
        references=(Reference("user_id", "users", "user_id"),),
    ),
    SourceTable(
        "user_profiles",
        "auth_db",
        "Customer segment, loyalty tier and preferences.",
        ("user_id",),
        references=(Reference("user_id", "users", "user_id"),),
    ),
    # product_db
    SourceTable("categories", "product_db", "The product category tree.", ("category_id",)),
    SourceTable(
        "products",
        "product_db",
        "The catalog: products with brand, category and price.",
        ("product_id",),
        references=(Reference("category_id", "categories", "category_id"),),
        min_rows=50,
    ),
    SourceTable(
        "product_variants",
        "product_db",
        "Sizes and colours of products.",
        ("variant_id",),
        references=(Reference("product_id", "products", "product_id"),),
    ),
    SourceTable(
        "product_images",
        "product_db",
        "Product images.",
        ("image_id",),
        references=(Reference("product_id", "products", "product_id"),),
    ),
    SourceTable(
        "product_inventory",
        "product_db",
        "Stock per product and warehouse.",
        ("inventory_id",),
        references=(Reference("product_id", "products", "product_id"),),
    ),
    # cart_db
    SourceTable(
        "carts",
        "cart_db",
        "Shopping carts: active, abandoned or converted to an order.",
        ("cart_id",),
        references=(
            Reference("user_id", "users", "user_id", description="carts to users"),
            Reference("converted_order_id", "orders", "order_id", nullable=True),
        ),
    ),
    SourceTable(
        "cart_items",
        "cart_db",
        "Items in carts.",
        ("cart_item_id",),
        references=(
            Reference("cart_id", "carts", "cart_id"),
            Reference("product_id", "products", "product_id", description="cart_items to products"),
        ),
    ),
    SourceTable(
        "wishlists",
        "cart_db",
        "Customer wishlists.",
        ("wishlist_id",),
        references=(Reference("user_id", "users", "user_id"),),
    ),
    SourceTable(
        "wishlist_items",
        "cart_db",
        "Products on wishlists.",
        ("wishlist_item_id",),
        references=(
            Reference("wishlist_id", "wishlists", "wishlist_id"),
            Reference("product_id", "products", "product_id"),
        ),
    ),
    SourceTable(
        "saved_carts",
        "cart_db",
        "Carts saved for later.",
        ("saved_cart_id",),
        references=(Reference("cart_id", "carts", "cart_id"), Reference("user_id", "users", "user_id")),
    ),
    SourceTable(
        "cart_view",
        "cart_db",
        "Denormalized read model: one row per cart item with user and product snapshots.",
        ("cart_item_id",),
    ),
    SourceTable(
        "reference_validation_log",
        "cart_db",
        "The cart service's own log of cross-service reference validations.",
        ("log_id",),
    ),
    # promotion_db
    SourceTable("promotion_campaigns", "promotion_db", "Marketing campaigns.", ("campaign_id",)),
    SourceTable("promo_codes", "promotion_db", "Promotion codes and their discounts.", ("promo_code_id",)),
    SourceTable(
        "campaign_promo_codes",
        "promotion_db",
        "Which codes belong to which campaign.",
        ("campaign_id", "promo_code_id"),
        references=(
            Reference("campaign_id", "promotion_campaigns", "campaign_id"),
            Reference("promo_code_id", "promo_codes", "promo_code_id"),
        ),
    ),
    SourceTable(
        "promo_usage",
        "promotion_db",
        "Redemptions of promotion codes on orders.",
        ("usage_id",),
        event_time="used_at",
        references=(
            Reference("promo_code_id", "promo_codes", "promo_code_id", description="promo_usage to promo_codes"),
            Reference("order_id", "orders", "order_id"),
        ),
    ),
    SourceTable(
        "user_promo_eligibility",
        "promotion_db",
        "Customers eligible for targeted codes.",
        ("eligibility_id",),
        references=(Reference("promo_code_id", "promo_codes", "promo_code_id"),),
    ),
    SourceTable(
        "promo_analytics",
        "promotion_db",
        "Daily usage and revenue per promotion code.",
        ("promo_code_id", "date"),
        references=(Reference("promo_code_id", "promo_codes", "promo_code_id"),),
    ),
    SourceTable(
        "promo_suggestions",
        "promotion_db",
        "Codes suggested to customers, and whether they were accepted.",
        ("suggestion_id",),
        references=(Reference("promo_code_id", "promo_codes", "promo_code_id"),),
    ),
    # storefront_db
    SourceTable(
        "orders",
        "storefront_db",
        "Customer orders with status, channel and amounts.",
        ("order_id",),
        event_time="ordered_at",
        references=(Reference("user_id", "users", "user_id", description="orders to users"),),
        min_rows=500,
    ),
    SourceTable(
        "order_items",
        "storefront_db",
        "Order lines: product, quantity, price.",
        ("order_item_id",),
        event_time_from=("orders", "order_id"),
        references=(
            Reference("order_id", "orders", "order_id"),
            Reference("product_id", "products", "product_id", description="order_items to products"),
        ),
    ),
    SourceTable(
        "transactions",
        "storefront_db",
        "Payments, successful or failed.",
        ("transaction_id",),
        event_time="processed_at",
        references=(Reference("order_id", "orders", "order_id"),),
    ),
    SourceTable(
        "user_interactions",
        "storefront_db",
        "The funnel: views, clicks, cart adds, wishlist adds and purchases.",
        ("interaction_id",),
        event_time="occurred_at",
        references=(
            Reference("user_id", "users", "user_id"),
            Reference("product_id", "products", "product_id"),
        ),
        min_rows=1000,
    ),
    SourceTable(
        "reviews",
        "storefront_db",
        "Product reviews with rating and text.",
        ("review_id",),
        event_time="created_at",
        references=(
            Reference("product_id", "products", "product_id"),
            Reference("order_id", "orders", "order_id"),
        ),
        min_rows=200,
    ),
)

#: The tables every storefront must have: customers, the catalog and its orders with their lines. Their
#: minimum-rows checks block; the other tables are optional (a real storefront may lack carts, promotions,
#: wishlists, sessions, interactions, reviews or payments): what needs them skips itself, with the reason.
REQUIRED_TABLES: tuple[str, ...] = ("users", "products", "orders", "order_items")

#: ML readiness per purpose, as `storeml doctor` reports it: (table, minimum rows, purpose).
READINESS: tuple[tuple[str, int, str], ...] = (
    ("users", 100, "customer segmentation"),
    ("products", 50, "recommendations"),
    ("orders", 500, "demand forecasting"),
    ("user_interactions", 1000, "collaborative filtering"),
    ("reviews", 200, "sentiment analysis"),
)


def tables_in(database: str) -> list[SourceTable]:
    return [t for t in CATALOG.values() if t.database == database]


def min_rows_for(table: SourceTable) -> int:
    """The minimum row count of ``table``: the catalog default, overridden by ``STOREML_MIN_ROWS``.

    ``STOREML_MIN_ROWS`` is a comma-separated list like ``orders=1000,reviews=100``.
    """
    from storeml_assets.settings import get_settings

    overrides = get_settings().min_rows
    unknown = sorted(set(overrides) - set(CATALOG))
    if unknown:
        raise ValueError(f"STOREML_MIN_ROWS names {unknown[0]!r}, which is not a source table")
    return max(1, overrides.get(table.name, table.min_rows))
