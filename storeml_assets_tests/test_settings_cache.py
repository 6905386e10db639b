"""One cached Settings per STOREML_* environment; every variable it owns is checked, the error naming it."""

from __future__ import annotations

import pytest

from storeml_assets.settings import SettingsError, clear_settings_cache, get_settings
from storeml_assets.sources.catalog import CATALOG, min_rows_for


def test_settings_are_built_once_and_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOREML_SCALE", "tiny")
    first = get_settings()
    assert get_settings() is first and first.scale == "tiny"
    monkeypatch.setenv("STOREML_SCALE", "medium")
    assert get_settings().scale == "medium"
    clear_settings_cache()
    monkeypatch.setenv("STOREML_SCALE", "tiny")
    assert get_settings() is not first and get_settings().scale == "tiny"


def test_owned_variables_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOREML_PARTITIONS_START", "2026-03-01")
    monkeypatch.setenv("STOREML_MIN_ROWS", "orders=7, reviews=0")
    monkeypatch.setenv("STOREML_MLFLOW_TRACKING_URI", " http://mlflow:5000 ")
    settings = get_settings()
    assert settings.partitions_start == "2026-03-01"
    assert settings.min_rows == {"orders": 7, "reviews": 0}
    assert settings.mlflow_tracking_uri == "http://mlflow:5000"
    assert min_rows_for(CATALOG["orders"]) == 7 and min_rows_for(CATALOG["reviews"]) == 1


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("STOREML_PARTITIONS_START", "March", "STOREML_PARTITIONS_START must be a date"),
        ("STOREML_SCALE", "huge", "STOREML_SCALE must be one of tiny, small, medium, large"),
        ("STOREML_MIN_ROWS", "orders", "STOREML_MIN_ROWS entry 'orders' must look like"),
        ("STOREML_RETRAIN_MAX_AGE_DAYS", "soon", "STOREML_RETRAIN_MAX_AGE_DAYS must be a number"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=message):
        get_settings()


def test_unknown_min_rows_table_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOREML_MIN_ROWS", "ordres=5")
    with pytest.raises(ValueError, match="STOREML_MIN_ROWS names 'ordres', which is not a source table"):
        min_rows_for(CATALOG["orders"])
