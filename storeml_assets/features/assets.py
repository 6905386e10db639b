"""Customer features and the labelled training set (group ``features``): polars frames the IO manager stores
in ``features.customer_features`` and ``features.training_set``.

Thin wiring over :mod:`storeml_assets.features.customer` (the features) and
:mod:`storeml_assets.features.training` (cutoff plan, labels, splits, data basis). Both read the raw
source tables of :data:`~storeml_assets.features.customer.RAW_COLUMNS`; they also depend on
``warehouse/customers`` and ``warehouse/transactions``, which conform the same users and orders, so that
the warehouse's blocking integrity checks guard the features and everything trained on them.
"""

from datetime import UTC, date, datetime

import dagster as dg
import polars as pl
from pydantic import Field

from storeml_assets.features.customer import (
    DRIFT_FEATURES,
    FEATURE_SPEC,
    LOOKBACK_DAYS,
    RAW_COLUMNS,
    build_customer_features,
    load_raw_frames,
)
from storeml_assets.features.training import (
    build_training_set,
    data_basis,
    history_end,
    plan_cutoffs,
    split_summary,
)
from storeml_assets.keys import (
    CUSTOMER_FEATURES_KEY,
    CUSTOMERS_KEY,
    FEATURES_GROUP,
    TRAINING_SET_KEY,
    TRANSACTIONS_KEY,
    raw_key,
)
from storeml_assets.ml.reports import markdown_table
from storeml_assets.resources.postgres import PostgresResource

#: The raw source tables the features read.
RAW_DEPS = [raw_key(table) for table in RAW_COLUMNS]
#: Warehouse tables conforming the users and orders the features read: their blocking integrity
#: checks (keys, references) guard the features and everything trained on them.
WAREHOUSE_DEPS = [CUSTOMERS_KEY, TRANSACTIONS_KEY]


def _raw_history(storeml_db: PostgresResource, cutoff_date: str | None) -> tuple[dict[str, pl.DataFrame], datetime]:
    """The raw frames the features need and the end of the history (``cutoff_date``, else after the latest order)."""
    frames = load_raw_frames(storeml_db.resolved_url())
    if not cutoff_date:
        return frames, history_end(frames["orders"])
    try:
        day = date.fromisoformat(cutoff_date)
    except ValueError:
        raise dg.Failure(f"cutoff_date must be YYYY-MM-DD, got {cutoff_date!r}") from None
    return frames, datetime(day.year, day.month, day.day, tzinfo=UTC)


def _markdown(frame: pl.DataFrame, rows: int = 10) -> str:
    head = frame.head(rows)
    return markdown_table(head.columns, head.iter_rows())


class FeatureConfig(dg.Config):
    """Knobs shared by the feature assets."""

    cutoff_date: str | None = Field(
        default=None,
        description="End of the history (YYYY-MM-DD, 00:00 UTC; only data before it is used). "
        "Default: midnight after the day of the latest order in raw.orders.",
    )
    window_days: int = Field(default=30, description="Trailing window of the drift features (days).")
    lookback_days: int = Field(default=LOOKBACK_DAYS, description="Lookback of the behaviour features (days).")


class TrainingSetConfig(FeatureConfig):
    """Knobs of the time-split training set."""

    train_cutoffs: int = Field(
        default=2,
        description="Number of training cutoffs before the holdout cutoff, one horizon apart "
        "(each needs lookback_days of history before it).",
    )
    horizon_days: int = Field(default=30, description="Label horizon: purchased within this many days after a cutoff.")


# --- assets -------------------------------------------------------------------------------------


@dg.asset(
    key=CUSTOMER_FEATURES_KEY,
    group_name=FEATURES_GROUP,
    deps=[*RAW_DEPS, *WAREHOUSE_DEPS],
    kinds={"polars", "postgres"},
    owners=["team:ml"],
    code_version="1",
)
def customer_features(
    context: dg.AssetExecutionContext, config: FeatureConfig, storeml_db: PostgresResource
) -> pl.DataFrame:
    """Per-customer features (RFM, engagement, carts, promos, reviews, channel mix, drift signals) as of the end of the data."""
    frames, end = _raw_history(storeml_db, config.cutoff_date)
    features = build_customer_features(frames, end, window_days=config.window_days,
                                       lookback_days=config.lookback_days)
    means = features.select(pl.col(DRIFT_FEATURES).mean()).row(0, named=True)
    context.add_output_metadata(
        {
            "cutoff": dg.MetadataValue.text(end.isoformat()),
            "customers": dg.MetadataValue.int(features.height),
            "feature_count": dg.MetadataValue.int(len(FEATURE_SPEC.columns)),
            "drift_feature_means": dg.MetadataValue.json(
                {k: (round(v, 4) if v is not None else None) for k, v in means.items()}
            ),
        }
    )
    return features


@dg.asset(
    key=TRAINING_SET_KEY,
    group_name=FEATURES_GROUP,
    deps=[*RAW_DEPS, *WAREHOUSE_DEPS],
    kinds={"polars", "postgres"},
    owners=["team:ml"],
    code_version="1",
)
def training_set(
    context: dg.AssetExecutionContext, config: TrainingSetConfig, storeml_db: PostgresResource
) -> pl.DataFrame:
    """Labelled examples (purchased within 30 days of a cutoff): earlier cutoffs to train on, the latest labelled one as holdout."""
    frames, end = _raw_history(storeml_db, config.cutoff_date)
    plan = plan_cutoffs(end, train_cutoffs=config.train_cutoffs, horizon_days=config.horizon_days)
    data = build_training_set(frames, plan, window_days=config.window_days, lookback_days=config.lookback_days)
    first_order = frames["orders"].get_column("ordered_at").min()
    assert first_order is None or isinstance(first_order, datetime)
    # day granularity: a history starting on the day the first lookback starts covers it
    covered = first_order is not None and plan.training_window[0].date() >= first_order.date()
    if not covered:
        context.log.warning(
            f"the first training cutoff {plan.train[0]:%Y-%m-%d} has less than {config.lookback_days} days of "
            "history before it: its features are truncated (fewer train_cutoffs or a longer history fix this)"
        )
    summary = split_summary(data).with_columns(pl.col("cutoff").dt.strftime("%Y-%m-%d"))
    basis = data_basis(frames["orders"], end)
    context.add_output_metadata(
        {
            "data_hwm": dg.MetadataValue.text(basis.data_hwm.isoformat() if basis.data_hwm else ""),
            "orders_seen": dg.MetadataValue.int(basis.orders_seen or 0),
            "plan": dg.MetadataValue.json(plan.to_dict()),
            "splits": dg.MetadataValue.md(_markdown(summary)),
            "train_rows": dg.MetadataValue.int(int(summary.filter(pl.col("split") == "train")["rows"].sum())),
            "holdout_rows": dg.MetadataValue.int(int(summary.filter(pl.col("split") == "holdout")["rows"].sum())),
            "lookback_covered": dg.MetadataValue.bool(bool(covered)),
        }
    )
    return data


FEATURE_ASSETS: list[dg.AssetsDefinition] = [customer_features, training_set]
