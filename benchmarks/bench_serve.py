"""storeml serve against ``mlflow models serve`` on the same champion model, loopback load from wrk.

Creates temporary ``storeml`` and ``mlflow`` databases on the storeml server (embedded by default,
``STOREML_PG_URL`` when set), trains and registers a small purchase-propensity model as
``champion``, starts both servers on loopback, and drives each with wrk (Debian package ``wrk``):
single-instance requests at concurrency 1, 8 and 64, and batches of 100 at concurrency 8. Prints
requests/s and p50/p99 latency per server and the ratios, all measured in the same run, and what the
prediction log costs: throughput against the same server without it, and CPU per request (server
process, and for the log its database connections' server processes) which a busy machine disturbs less.

    python -m benchmarks.bench_serve [--seconds 10] [--port 24420]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import mlflow
import psycopg2

from storeml_assets.db.admin import create_database, drop_database
from storeml_assets.db.locator import server_url
from storeml_assets.db.urls import sqlalchemy_url, with_database
from storeml_assets.features.customer import FEATURE_SPEC, LABEL
from storeml_assets.ml.mlflow_resource import MlflowTracking
from storeml_assets.ml.train import train_model
from storeml_assets.settings import ALL_DATABASES, DATABASE_URL_ENV
from storeml_assets_tests.serving.frames import feature_frame

FAMILY = "purchase_propensity"
LOADS = [("single", 1, 1), ("single", 1, 8), ("single", 1, 64), ("batch", 100, 8)]

LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open("{body}"):read("a")
"""


def records(rows: int) -> list[dict[str, object]]:
    frame = feature_frame(rows, 7)[list(FEATURE_SPEC.columns)]
    return [{c: (float(v) if c in FEATURE_SPEC.numeric else str(v)) for c, v in row.items()}
            for row in frame.to_dict(orient="records")]


def wait_up(url: str, process: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads) from /proc; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (MLflow's server runs uvicorn as a child)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended while listing
        parents.setdefault(ppid, []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(parents.get(current, []))
    return tree


def log_backends(storeml_url: str) -> list[int]:
    """The server processes of the prediction log's connections (storeml serve with the log; the one without
    it opens none for inline predictions). Empty when the database server is not on this machine."""
    conn = psycopg2.connect(storeml_url)
    try:
        with conn.cursor() as cur:
            cur.execute("select pid from pg_stat_activity where datname = current_database() "
                        "and application_name = 'storeml-serve'")
            pids = [int(row[0]) for row in cur.fetchall()]
    finally:
        conn.close()
    return [pid for pid in pids if Path(f"/proc/{pid}/stat").exists()]


def run_wrk(url: str, body: Path, connections: int, seconds: int, work: Path,
            cpu_of: Callable[[], list[int]] = list) -> dict[str, float]:
    """wrk's requests/s, p50 and p99 (ms), non-2xx count, and the CPU ms per request of the processes
    ``cpu_of`` names (read before and after the run)."""
    script = work / f"post-{uuid.uuid4().hex[:6]}.lua"
    script.write_text(LUA.format(body=body))
    threads = min(connections, 2)
    pids = cpu_of()
    cpu_before = {pid: _cpu_seconds(pid) for pid in pids}
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
                          url], check=True, capture_output=True, text=True).stdout
    cpu = sum(max(_cpu_seconds(pid) - before, 0.0) for pid, before in cpu_before.items())
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)

    def pct(label: str) -> float:
        found = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out)
        if found is None:
            return float("nan")
        value, unit = float(found.group(1)), found.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return {"rps": rps, "p50": pct("50"), "p99": pct("99"), "errors": float(errors.group(1)) if errors else 0.0,
            "cpu_ms": 1000 * cpu / requests if requests else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="Duration of each wrk run.")
    parser.add_argument("--port", type=int, default=24420,
                        help="storeml serve's port; mlflow gets the next one, storeml without the log the one after.")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install -y wrk)")

    server = server_url()
    suffix = uuid.uuid4().hex[:8]
    names = {db: f"{db}_bench_{suffix}" for db in ALL_DATABASES}
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOREML_")}
    env.update({DATABASE_URL_ENV[db]: with_database(server, name) for db, name in names.items()})
    # one OpenMP thread per server process for both (storeml's predictor thread uses one anyway): with the
    # default, MLflow's predict spin-waits on a busy 2-core machine and the ratio would measure that
    env |= {"STOREML_HOME": str(work / "home"), "STOREML_SERVE_MAX_BODY_BYTES": "10000000", "OMP_NUM_THREADS": "1"}
    tracking_uri = sqlalchemy_url(with_database(server, names["mlflow"]))
    processes: list[subprocess.Popen[bytes]] = []
    created: list[str] = []
    try:
        for db in ("storeml", "mlflow"):
            create_database(server, names[db])
            created.append(names[db])
        tracking = MlflowTracking(tracking_uri=tracking_uri, artifact_location=str(work / "artifacts"),
                                  experiment_name="bench-serve")
        frame = feature_frame(2000, 1)
        model = train_model(frame, label=LABEL, features=FEATURE_SPEC, seed=1, n_threads=1)
        with tracking.start_run(None, run_name="bench-serve"):
            _, version = tracking.log_and_register(model, model_name=FAMILY,
                                                   input_example=frame[list(FEATURE_SPEC.columns)])
        tracking.promote(FAMILY, version)
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # back to the default (the stubs omit None)

        storeml_url = with_database(server, names["storeml"])
        storeml_port, mlflow_port = args.port, args.port + 1
        log = (work / "storeml.log").open("wb")
        processes.append(subprocess.Popen([str(Path(sys.executable).parent / "storeml"), "serve", "--port",
                                           str(storeml_port)], env=env, stdout=log, stderr=subprocess.STDOUT))
        # the same server without the prediction log, run interleaved with the others (what the log costs)
        processes.append(subprocess.Popen([str(Path(sys.executable).parent / "storeml"), "serve", "--port",
                                           str(args.port + 2), "--no-prediction-log"], env=env,
                                          stdout=(work / "storeml-nolog.log").open("wb"), stderr=subprocess.STDOUT))
        mlflow_env = env | {"MLFLOW_TRACKING_URI": tracking_uri,  # its server execs `uvicorn` from PATH
                            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}
        processes.append(subprocess.Popen(
            [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m", f"models:/{FAMILY}@champion",
             "--env-manager", "local", "-h", "127.0.0.1", "-p", str(mlflow_port), "-w", "1"],
            env=mlflow_env, stdout=(work / "mlflow.log").open("wb"), stderr=subprocess.STDOUT))
        for url, process, name in ((f"http://127.0.0.1:{storeml_port}/ready", processes[0], "storeml"),
                                   (f"http://127.0.0.1:{args.port + 2}/ready", processes[1], "storeml-nolog"),
                                   (f"http://127.0.0.1:{mlflow_port}/ping", processes[2], "mlflow")):
            try:
                wait_up(url, process)
            except RuntimeError:
                print((work / f"{name}.log").read_text()[-3000:], file=sys.stderr)
                raise

        results: list[tuple[str, int, int, dict[str, float], dict[str, float], dict[str, float]]] = []
        for kind, batch, connections in LOADS:
            rows = records(batch)
            ours, theirs = work / f"ours-{batch}.json", work / f"theirs-{batch}.json"
            ours.write_text(json.dumps({"instances": rows}))
            theirs.write_text(json.dumps({"dataframe_records": rows}))
            mine = run_wrk(f"http://127.0.0.1:{storeml_port}/v1/models/{FAMILY}/predict", ours, connections,
                           args.seconds, work, lambda: [processes[0].pid, *log_backends(storeml_url)])
            base = run_wrk(f"http://127.0.0.1:{mlflow_port}/invocations", theirs, connections, args.seconds, work,
                           lambda: process_tree(processes[2].pid))
            bare = run_wrk(f"http://127.0.0.1:{args.port + 2}/v1/models/{FAMILY}/predict", ours, connections,
                           args.seconds, work, lambda: [processes[1].pid])
            results.append((kind, batch, connections, mine, base, bare))

        print("| load | batch | concurrency | storeml req/s | p50 ms | p99 ms | mlflow req/s | p50 ms | p99 ms "
              "| throughput ratio | p99 ratio |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for kind, batch, connections, mine, base, _ in results:
            print(f"| {kind} | {batch} | {connections} | {mine['rps']:.0f} | {mine['p50']:.1f} | {mine['p99']:.1f} "
                  f"| {base['rps']:.0f} | {base['p50']:.1f} | {base['p99']:.1f} | {mine['rps'] / base['rps']:.2f}x "
                  f"| {mine['p99'] / base['p99']:.2f} |")
            if mine["errors"] or base["errors"]:
                print(f"  non-2xx responses: storeml {mine['errors']:.0f}, mlflow {base['errors']:.0f}")
        health = httpx.get(f"http://127.0.0.1:{storeml_port}/health").json()["prediction_log"]
        print(f"prediction log: {health['written']} rows written, {health['dropped']} dropped, "
              f"queue {health['queue_depth']}")
        print()
        # CPU per request does not depend on what else the machine runs: the log's cost is its share of it
        # (the log's database work included); the throughput difference is shown beside it
        print("| load | batch | concurrency | with log req/s | without log req/s | throughput cost "
              "| CPU ms/req with log (its db work) | without log | mlflow | log's CPU share |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for kind, batch, connections, mine, base, bare in results:
            print(f"| {kind} | {batch} | {connections} | {mine['rps']:.0f} | {bare['rps']:.0f} "
                  f"| {100 * (1 - mine['rps'] / bare['rps']):.1f}% | {mine['cpu_ms']:.2f} | {bare['cpu_ms']:.2f} "
                  f"| {base['cpu_ms']:.2f} | {100 * (1 - bare['cpu_ms'] / mine['cpu_ms']):.1f}% |")

    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        for name in created:
            drop_database(server, name)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
