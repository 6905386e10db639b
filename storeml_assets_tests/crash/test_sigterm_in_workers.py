"""Forecasting's worker pools end quietly inside a run; the run's command is still interrupted by SIGTERM.

While a run executes, SIGTERM raises KeyboardInterrupt in the command (the run is then canceled). The
demand-forecasting family's statsforecast pools fork workers meanwhile; closing a pool terminates its
workers with SIGTERM, which must end them without a traceback on the terminal (their initializer
restores the default handler).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

PROBE = textwrap.dedent(
    """
    import os, signal, time
    from storeml_assets.forecasting.model import _statsforecast
    from storeml_assets.run_guard import sigterm_as_interrupt

    with sigterm_as_interrupt():
        Pool, kwargs = _statsforecast(["SeasonalNaive"], n_jobs=2)._get_pool()
        with Pool(2, **kwargs) as pool:
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


def test_forecasting_workers_end_quietly_and_the_command_is_still_interrupted() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "interrupted"
    assert result.stderr == ""
