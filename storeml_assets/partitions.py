"""Partitions shared across domains."""

from __future__ import annotations

import os

import dagster as dg

#: First day of the daily partitions of event tables (``STOREML_PARTITIONS_START``).
PARTITIONS_START = os.environ.get("STOREML_PARTITIONS_START", "2026-01-01")

DAILY_PARTITIONS = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC")
