"""Seeded, deterministic storefront simulator (plain Python; no Dagster here)."""
