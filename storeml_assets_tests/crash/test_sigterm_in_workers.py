"""A run's SIGTERM handler stays the run's: processes forked during the run end quietly when terminated.

While a run executes, SIGTERM raises KeyboardInterrupt in the command (the run is then canceled). A
library's worker pool forked meanwhile (statsforecast's, for the forecasting family) inherits that
handler; closing the pool terminates its workers with SIGTERM, which must end them without a
traceback on the terminal. The command itself still gets its KeyboardInterrupt.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

PROBE = textwrap.dedent(
    """
    import multiprocessing, os, signal, time
    from storeml_assets.run_guard import _sigterm_as_interrupt

    with _sigterm_as_interrupt():
        with multiprocessing.get_context("fork").Pool(2) as pool:
            assert pool.map(abs, [-1, -2, -3]) == [1, 2, 3]
            pool.apply_async(time.sleep, (30,))  # a worker still busy when the pool terminates it
            time.sleep(0.5)
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
            print("no interrupt")
        except KeyboardInterrupt:
            print("interrupted")
    """
)


def test_forked_workers_end_quietly_and_the_command_is_still_interrupted() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "interrupted"
    assert result.stderr == ""
