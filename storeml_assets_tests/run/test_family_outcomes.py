"""How the models stage reads a family's run: trained, skipped (with the reason) or failed."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from storeml_assets.runner import BlockingCheckFailed, Runner
from storeml_assets.settings import Settings


@dataclass(frozen=True)
class Family:
    name: str
    purpose: str

    @property
    def job_name(self) -> str:
        return f"{self.name}_retraining_job"


class Scripted(Runner):
    """A runner whose family runs raise what a real run would (no Dagster, no database)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(Settings(project_root=Path("."), home=Path("."), server_url=None), Console(file=io.StringIO()))
        self.error = error

    def run_job(self, name: str, **kwargs: Any) -> None:
        raise self.error


def test_a_family_that_crashed_is_failed() -> None:
    error = RuntimeError("x_retraining_job failed (run 1): models__x: ValueError: bad input")
    outcome = Scripted(error).train_family(Family("x", "x things"))
    assert (outcome.status, outcome.reason) == ("failed", str(error))


def test_a_blocking_check_stops_the_run() -> None:
    with pytest.raises(BlockingCheckFailed):
        Scripted(BlockingCheckFailed("blocking check failed in x: raw/orders:min_rows")).train_family(Family("x", "x"))


def test_an_interrupt_is_not_a_failed_family() -> None:
    from storeml_assets.run_guard import RunInterrupted

    with pytest.raises(RunInterrupted):
        Scripted(RunInterrupted("x_retraining_job (run 1) interrupted: run canceled")).train_family(Family("x", "x"))
