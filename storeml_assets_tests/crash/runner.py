"""Processes that execute runs against the instance in ``$DAGSTER_HOME``, for the crash tests.

``python -m storeml_assets_tests.crash.runner hold HOME READY``: a run whose step claims a
``postgres_heavy_write`` slot, writes READY and then never ends (until the process is killed).
``python -m storeml_assets_tests.crash.runner write HOME READY URL``: a run whose step holds a slot
and writes a large table to the database at URL (long enough for Postgres to be killed mid-write).
``python -m storeml_assets_tests.crash.runner guarded HOME``: a quick run of the same pool under
:func:`execute_guarded`, printing what the guard says; its exit status tells how it ended.
"""

import os
import sys
import time
from pathlib import Path

import dagster as dg

from storeml_assets.recovery import process_tags
from storeml_assets.run_guard import RunInterrupted, SlotWaitTimeout, execute_guarded

POOL = "postgres_heavy_write"


class HoldConfig(dg.Config):
    ready: str


@dg.op(pool=POOL)
def hold_slot(context: dg.OpExecutionContext, config: HoldConfig) -> None:
    Path(config.ready + ".pid").write_text(str(os.getpid()))
    Path(config.ready).write_text(context.run_id)
    while True:
        time.sleep(1)


class WriteConfig(dg.Config):
    ready: str
    url: str


@dg.op(pool=POOL)
def long_write(context: dg.OpExecutionContext, config: WriteConfig) -> None:
    import psycopg2

    conn = psycopg2.connect(config.url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("create table if not exists big (n bigint, pad text)")
            Path(config.ready).write_text(context.run_id)
            cur.execute("insert into big select n, repeat('x', 200) from generate_series(1, 1000000000) n")
    finally:
        conn.close()


@dg.job
def writing_job() -> None:
    long_write()


@dg.op(pool=POOL)
def quick_write() -> int:
    return 1


@dg.job
def holding_job() -> None:
    hold_slot()


@dg.job
def quick_job() -> None:
    quick_write()


#: The code location `dagster dev` serves in the run-monitoring test.
defs = dg.Definitions(jobs=[holding_job, writing_job, quick_job])


def main(argv: list[str]) -> int:
    mode, home = argv[0], Path(argv[1])
    instance = dg.DagsterInstance.get()
    # a test's crashed run is not retried by a daemon that may be watching the instance
    tags = {**process_tags(home), "dagster/max_retries": "0"}
    if mode == "write":
        writing_job.execute_in_process(
            instance=instance,
            run_config={"ops": {"long_write": {"config": {"ready": argv[2], "url": argv[3]}}}},
            tags=tags,
        )
        return 0
    if mode == "hold":
        holding_job.execute_in_process(
            instance=instance, run_config={"ops": {"hold_slot": {"config": {"ready": argv[2]}}}}, tags=tags
        )
        return 0
    try:
        result = execute_guarded(quick_job, instance=instance, tags=tags, say=lambda line: print(line, flush=True))
    except RunInterrupted as exc:
        print(f"interrupted: {exc}", flush=True)
        return 130
    except SlotWaitTimeout as exc:
        print(f"timeout: {exc}", flush=True)
        return 3
    print(f"run {result.run_id}: {'success' if result.success else 'failure'}", flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
