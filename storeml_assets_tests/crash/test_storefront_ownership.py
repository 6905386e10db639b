"""A demo whose storefront is re-simulated under it (another seed, from the UI or a script) refuses to go on."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from storeml_assets.demo import Demo
from storeml_assets.keys import SIMULATE_JOB
from storeml_assets.settings import Settings


class Intruded(Demo):
    """A demo whose storefront another run re-simulates with seed 2 right after its own simulation."""

    def run_job(self, name: str, **kwargs: Any) -> None:
        super().run_job(name, **kwargs)
        if name == SIMULATE_JOB and self.seed != 2:
            other = Demo(self.settings, self.console, scale=self.scale, drift=False, seed=2)
            other.run_job(
                SIMULATE_JOB,
                run_config={"ops": {"simulated_storefront": {"config": {"scale": self.scale, "seed": 2}}}},
            )


def test_the_demo_refuses_to_build_on_another_storefront(
    isolated_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "unused"))  # restored after the demo points it home
    out = io.StringIO()
    demo = Intruded(Settings.from_env(), Console(file=out), scale="tiny", drift=False, seed=1)
    with pytest.raises(RuntimeError, match=r"re-simulated by run \S+ \(seed 2\) while this demo \(seed 1\) ran"):
        demo.run()
    assert [name for name, _, _ in demo.report.runs] == [SIMULATE_JOB]
