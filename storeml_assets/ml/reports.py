"""Reports for people: gate verdicts, segment F1 and frame previews as markdown tables (Dagster metadata)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from storeml_assets import markdown
from storeml_assets.jsonsafe import to_jsonable
from storeml_assets.ml.gates import Decision
from storeml_assets.ml.train import EvaluationResult


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A markdown table; ``None`` cells are empty, pipes in cells are escaped."""
    return markdown.table(rows, headers)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_short(v)}" for k, v in value.items() if not isinstance(v, list | dict))
    return str(value)


def gates_markdown(decision: Decision) -> str:
    """A markdown table of every gate's verdict, value, threshold and reason."""
    return markdown_table(
        ["gate", "verdict", "value", "threshold", "reason"],
        ([gate.name, "PASS" if gate.passed else "**FAIL**", _short(to_jsonable(gate.value)),
          _short(to_jsonable(gate.threshold)), gate.reason] for gate in decision.gates),
    )


def segment_f1_markdown(result: EvaluationResult) -> str:
    """A markdown table of F1, rows and positives per segment."""
    return markdown_table(
        ["segment column", "segment", "F1", "rows", "positives"],
        ([column, value, f"{stats['f1']:.4f}", int(stats["n"]), int(stats["positives"])]
         for column, per_value in result.segment_f1.items() for value, stats in per_value.items()),
    )
