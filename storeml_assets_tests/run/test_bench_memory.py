"""The pipeline benchmark's memory figure counts the processes the command starts (model-family workers)."""

from __future__ import annotations

import subprocess
import sys
import time

from benchmarks.bench_run import RssSampler

HOLD = 300 * 1024**2


def test_tree_memory_counts_a_child_holding_memory() -> None:
    before = RssSampler.tree_pss()
    child = subprocess.Popen(
        [sys.executable, "-c", f"import sys, time; b = bytearray({HOLD}); b[::4096] = b'x' * len(b[::4096]); "
                               "print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        during = RssSampler.tree_pss()
    finally:
        child.kill()
        child.wait()
    time.sleep(0.1)
    after = RssSampler.tree_pss()
    assert during - before >= 0.9 * HOLD, (before, during)
    assert during - after >= 0.9 * HOLD, (during, after)
