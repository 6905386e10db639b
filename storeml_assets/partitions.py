"""Partitions shared across domains."""

from __future__ import annotations

from datetime import datetime

import dagster as dg

from storeml_assets.settings import get_settings
from storeml_assets.sources.partitions import data_partitions_start

#: First day of the daily partitions of event tables: ``STOREML_PARTITIONS_START``, else in external mode the
#: day of the storefront's first order.
PARTITIONS_START = data_partitions_start(get_settings())

#: Daily partitions; a day ends at midnight in ``STOREML_DAY_TIMEZONE`` (UTC by default).
DAILY_PARTITIONS = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone=get_settings().day_timezone)

#: Run tag (YYYY-MM-DD): an events run extracts only the events before this day, while still
#: replacing every partition of its range (later partitions become empty). The demo's first period
#: of a drift run uses it to replace the whole table without reading the drifted days yet.
EVENTS_BEFORE_TAG = "storeml/events_before"


def partition_range() -> tuple[datetime, datetime]:
    """``[start of the first daily partition, end of the last)``: the event times raw can hold."""
    first = DAILY_PARTITIONS.get_first_partition_window()
    last = DAILY_PARTITIONS.get_last_partition_window()
    if first is None or last is None:
        raise ValueError(f"STOREML_PARTITIONS_START {PARTITIONS_START!r} leaves no complete daily partition yet")
    return first.start, last.end
