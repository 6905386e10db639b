"""The home lock: a second storeml demo on the same data folder refuses with who holds it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from storeml_assets.home_lock import HomeBusyError, current_holder, home_lock
from storeml_assets_tests.crash.helpers import kill_hard, start, wait_ready


@pytest.fixture
def held(tmp_path: Path):
    """A real process holding ``tmp_path/home``'s lock as a demo; killed afterwards."""
    home, ready, log = tmp_path / "home", tmp_path / "ready", tmp_path / "holder.log"
    process = start("storeml_assets_tests.crash.holder", str(home), str(ready), log=log)
    try:
        wait_ready(process, ready, log)
        yield home, process
    finally:
        kill_hard(process)


def test_a_second_command_is_told_who_holds_the_home(held: tuple[Path, subprocess.Popen[bytes]]) -> None:
    home, process = held
    holder = current_holder(home)
    assert holder is not None and holder.pid == process.pid and holder.command == "demo"
    with pytest.raises(HomeBusyError, match=f"another storeml demo is running, pid {process.pid}"), home_lock(home, "demo"):
        pass


def test_the_demo_command_refuses_with_the_message(held: tuple[Path, subprocess.Popen[bytes]], tmp_path: Path) -> None:
    home, process = held
    storeml = Path(sys.executable).with_name("storeml")
    env = dict(os.environ, STOREML_HOME=str(home))
    done = subprocess.run(
        [str(storeml), "demo", "--scale", "tiny"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1
    assert f"another storeml demo is running, pid {process.pid}" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_lock_dies_with_its_holder(held: tuple[Path, subprocess.Popen[bytes]]) -> None:
    home, process = held
    kill_hard(process)
    assert current_holder(home) is None
    with home_lock(home, "demo") as mine:
        assert mine.pid == os.getpid()
        assert current_holder(home) is not None
    assert current_holder(home) is None
