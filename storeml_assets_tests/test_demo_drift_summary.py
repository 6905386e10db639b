"""The demo's drift line: one figure and what it compares, from the latest drift_share row."""

from __future__ import annotations

from storeml_assets.demo import drift_line

COMPARED = "trailing 30-day profile of active customers at 2026-07-03, 2026-08-02 vs 2026-11-01"


def test_judged_drift_names_the_figure_its_columns_and_the_comparison() -> None:
    line = drift_line(0.8333, {"drifted_count": 2, "column_count": 6, "compared": COMPARED,
                               "drifted_columns": ["channel_mobile_share", "avg_order_value"]})
    assert line == (f"drift share [bold]0.83[/] (2 of 6 columns: channel_mobile_share, avg_order_value), {COMPARED}")
    calm = drift_line(0.0, {"drifted_count": 0, "column_count": 6, "drifted_columns": [], "compared": COMPARED})
    assert calm == f"drift share [bold]0.00[/] (0 of 6 columns), {COMPARED}"


def test_no_verdict_prints_the_reason_not_a_share() -> None:
    verdict = "not enough data to judge drift (150 reference / 90 current rows < 200)"
    line = drift_line(None, {"verdict": verdict, "compared": COMPARED})
    assert line == f"drift: [bold]{verdict}[/], {COMPARED}"
    assert "share" not in line.split(",")[0].replace("drift: ", "")[:5]
