"""SIGTERM to `storeml demo` while model families train in two processes: every run in flight is canceled.

The command trains one family and a worker process another (``STOREML_MODEL_PROCESSES=2``). SIGTERM goes
to the command only (as from a service manager); it cancels its own run and stops the worker, which
cancels its run too. Afterwards no run is left STARTED and the worker process is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg2
import pytest

from storeml_assets.settings import DATABASE_URL_ENV

FAMILY_JOBS = ("retraining_job", "recommendations_retraining_job", "review_sentiment_retraining_job",
               "demand_forecast_retraining_job", "customer_segmentation_retraining_job")


def _runs(dagster_url: str) -> list[tuple[str, str, str]]:
    """(run id, job, status) of every run, with the pid tag of its process."""
    try:
        conn = psycopg2.connect(dagster_url)
    except psycopg2.OperationalError:  # the demo has not created the database yet
        return []
    with conn, conn.cursor() as cur:
        cur.execute("select to_regclass('runs') is not null and to_regclass('run_tags') is not null")
        row = cur.fetchone()
        if not (row and row[0]):
            return []
        cur.execute("select r.run_id, r.pipeline_name, r.status, coalesce(t.value, '') from runs r "
                    "left join run_tags t on t.run_id = r.run_id and t.key = 'storeml/pid'")
        rows = [(str(a), str(b), str(c), str(d)) for a, b, c, d in cur.fetchall()]
    conn.close()
    return [(run_id, f"{job}@{pid}", status) for run_id, job, status, pid in rows]


@pytest.mark.slow
def test_sigterm_while_families_train_in_two_processes_cancels_every_run(
    isolated_env: dict[str, str], tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STOREML_", "DAGSTER_HOME"))}
    env |= {DATABASE_URL_ENV[db]: url for db, url in isolated_env.items()}
    env |= {"STOREML_HOME": str(tmp_path / "home"), "STOREML_MODEL_PROCESSES": "2", "COLUMNS": "80"}
    storeml = Path(sys.executable).with_name("storeml")
    demo = subprocess.Popen([str(storeml), "demo", "--scale", "tiny"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    dagster = isolated_env["dagster"]
    try:
        # wait until a family runs in the command and another in a worker (a run tagged with another pid)
        deadline = time.monotonic() + 600
        in_flight: list[tuple[str, str, str]] = []
        while time.monotonic() < deadline and demo.poll() is None:
            in_flight = [run for run in _runs(dagster) if run[2] == "STARTED" and run[1].split("@")[0] in FAMILY_JOBS]
            if {run[1].split("@")[1] for run in in_flight} >= {str(demo.pid)} and len(in_flight) >= 2:
                break
            time.sleep(0.2)
        assert demo.poll() is None, "the demo ended before two families trained at once: " + demo.communicate()[0][-2000:]
        assert len(in_flight) >= 2, in_flight
        worker_pids = {int(run[1].split("@")[1]) for run in in_flight} - {demo.pid}
        assert worker_pids, in_flight

        demo.send_signal(signal.SIGTERM)
        out, err = demo.communicate(timeout=120)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()

    assert demo.returncode != 0, out
    assert "interrupted" in (out + err).lower(), out[-2000:] + err[-2000:]
    for pid in worker_pids:  # the worker is gone (a zombie would still be a process of the demo's: none)
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, pid
    statuses = {run_id: status for run_id, _job, status in _runs(dagster)}
    assert not [run for run in _runs(dagster) if run[2] in {"STARTED", "STARTING", "QUEUED", "NOT_STARTED"}]
    for run_id, _job, _status in in_flight:
        assert statuses[run_id] == "CANCELED", (run_id, statuses[run_id])
