"""`storeml run`'s arguments are checked before any work: a bad one is one line naming it, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from storeml_assets_tests.cli.invoke import run_in_process


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--select", "sources,reviews"], "--select names 'reviews', which is not one of sources"),
        (["--from", "2025-13-01"], "--from must be a date (YYYY-MM-DD), got '2025-13-01'"),
        (["--from", "2025-03-02", "--to", "2025-03-01"], "--to 2025-03-01 is before --from 2025-03-02"),
    ],
)
def test_bad_arguments_exit_2_naming_them(tmp_path: Path, args: list[str], message: str) -> None:
    outcome = run_in_process(["run", *args], {"STOREML_HOME": str(tmp_path / "home")})
    assert outcome.code == 2, outcome.output
    assert message in outcome.stderr.replace("\n", " ")
    assert not (tmp_path / "home" / "pg").exists()  # no database was started
