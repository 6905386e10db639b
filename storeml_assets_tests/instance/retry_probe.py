"""A tiny code location for exercising the instance's run retries (not part of storeml)."""

from pathlib import Path

import dagster as dg
from pydantic import Field


class MarkerConfig(dg.Config):
    """Where the first attempt leaves its trace."""

    marker: str = Field(description="A file path; absent on the first attempt, present on the retry.")


@dg.op
def fail_once(config: MarkerConfig) -> None:
    """Fail on the first attempt (a transient error), succeed on the retry."""
    marker = Path(config.marker)
    if not marker.exists():
        marker.write_text("first attempt failed")
        raise RuntimeError("transient failure on the first attempt")


@dg.op
def always_fail() -> None:
    """Fail every time, so the retry limit shows."""
    raise RuntimeError("permanent failure")


@dg.job
def flaky_job() -> None:
    fail_once()


@dg.job
def broken_job() -> None:
    always_fail()


defs = dg.Definitions(jobs=[flaky_job, broken_job])
