"""The migration runner against a real Postgres: databases, idempotence, locking, failures."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import psycopg2.errors
import pytest
from psycopg2 import sql

from storeml_assets.db.locator import DatabaseUnreachableError
from storeml_assets.db.migrate import (
    MIGRATION_LOCK_KEY,
    MIGRATIONS_TABLE,
    MigrationError,
    ensure_database,
    migrate,
    migration_files,
    pending,
)
from storeml_assets.db.urls import database_of, with_database
from storeml_assets.settings import ALL_DATABASES, Settings
from storeml_assets_tests.conftest import PROJECT_ROOT, drop_database

STOREML_OWN_FILES = ("001_schemas.sql", "002_warehouse.sql", "003_mlops_tables.sql", "004_mlops_views.sql")

WAREHOUSE_COLUMNS = {
    "customers": ["customer_id", "first_name", "last_name", "dob", "phone", "email"],
    "products": ["product_sku", "product_name", "category", "brand", "price"],
    "timeframe": ["time_id", "date", "day", "month", "year"],
    # the star schema's documented columns, then the partition/link columns of 005
    "transactions": [
        "transaction_id", "customer_id", "time_id", "transaction_amount", "channel", "payment_type",
        "order_id", "discount_amount", "transaction_ts",
    ],
    "sales": ["sale_id", "transaction_id", "product_sku", "quantity", "unit_price", "line_total", "transaction_ts"],
    "bundle_rules": [
        "id", "antecedents", "consequents", "antecedent_names", "consequent_names", "support",
        "confidence", "lift", "representativity", "leverage", "conviction", "zhangs_metric", "jaccard",
        "certainty", "kulczynski", "antecedent_support", "consequent_support", "created_at",
    ],
}  # fmt: skip

MLOPS_TABLES = ("model_versions", "monitoring_metrics", "retraining_decisions", "predictions")
MLOPS_VIEWS = ("v_decision_history", "v_model_timeline", "v_recent_monitoring")


# -- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def sql_snapshot(tmp_path: Path) -> Path:
    """A copy of the repository's ``sql/`` so files edited meanwhile cannot change under a test."""
    target = tmp_path / "sql"
    shutil.copytree(PROJECT_ROOT / "sql", target)
    return target


@pytest.fixture
def settings(isolated_env: dict[str, str]) -> Settings:
    return Settings.from_env()


def _query(url: str, query: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            rows = cur.fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def _execute(url: str, statement: str | sql.Composable, params: tuple[object, ...] = ()) -> None:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
        conn.commit()
    finally:
        conn.close()


def _recorded(url: str) -> list[str]:
    return [r[0] for r in _query(url, f"select filename from public.{MIGRATIONS_TABLE} order by filename")]


def _write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


def _expected_files(sql_dir: Path) -> dict[str, list[str]]:
    return {db: [f.name for f in migration_files(db, sql_dir)] for db in ALL_DATABASES}


# -- a full run --------------------------------------------------------------------------------


def test_full_migrate_creates_every_database_and_storeml_objects(
    settings: Settings, isolated_env: dict[str, str], sql_snapshot: Path
) -> None:
    expected = _expected_files(sql_snapshot)
    assert set(STOREML_OWN_FILES) <= set(expected["storeml"])
    assert pending(settings, sql_dir=sql_snapshot) == expected  # nothing exists yet: all pending

    lines: list[str] = []
    report = migrate(settings, sql_dir=sql_snapshot, log=lines.append)

    assert report.created_databases == list(ALL_DATABASES)
    assert report.applied == expected
    assert report.applied_count == sum(len(v) for v in expected.values())
    assert sum("applied" in line for line in lines) == report.applied_count
    server = with_database(isolated_env["storeml"], "postgres")
    names = {r[0] for r in _query(server, "select datname from pg_database")}
    assert {database_of(url) for url in isolated_env.values()} <= names
    for db, files in expected.items():
        if files:
            assert _recorded(isolated_env[db]) == sorted(files)

    storeml = isolated_env["storeml"]
    schemas = {r[0] for r in _query(storeml, "select schema_name from information_schema.schemata")}
    assert {"raw", "warehouse", "features", "mlops"} <= schemas
    for table, columns in WAREHOUSE_COLUMNS.items():
        rows = _query(
            storeml,
            "select column_name from information_schema.columns"
            " where table_schema = 'warehouse' and table_name = %s order by ordinal_position",
            (table,),
        )
        assert [r[0] for r in rows] == columns, table
    tables = {
        r[0] for r in _query(storeml, "select table_name from information_schema.tables where table_schema = 'mlops'")
    }
    assert set(MLOPS_TABLES) | set(MLOPS_VIEWS) <= tables
    # every timestamp column storeml owns is timestamptz
    naive = _query(
        storeml,
        "select table_schema || '.' || table_name || '.' || column_name from information_schema.columns"
        " where table_schema in ('warehouse', 'mlops') and data_type = 'timestamp without time zone'",
    )
    assert naive == []
    assert _query(storeml, "show timezone") == [("UTC",)]

    second_lines: list[str] = []
    second = migrate(settings, sql_dir=sql_snapshot, log=second_lines.append)
    assert second.applied_count == 0
    assert second.created_databases == []
    assert second.skipped_count == report.applied_count
    assert second_lines == []
    assert pending(settings, sql_dir=sql_snapshot) == {db: [] for db in ALL_DATABASES}


def test_pending_lists_new_files_only(settings: Settings, isolated_env: dict[str, str], tmp_path: Path) -> None:
    sql_dir = tmp_path / "sql"
    _write(sql_dir / "storeml", "001_a.sql", "create table public.a (id int);")
    migrate(settings, sql_dir=sql_dir, databases=["storeml"])
    _write(sql_dir / "storeml", "002_b.sql", "create table public.b (id int);")
    _write(sql_dir / "mlflow", "001_m.sql", "select 1;")  # mlflow database not created yet

    waiting = pending(settings, sql_dir=sql_dir)

    assert waiting["storeml"] == ["002_b.sql"]
    assert waiting["mlflow"] == ["001_m.sql"]
    assert waiting["auth_db"] == []


def test_unknown_database_is_rejected(settings: Settings) -> None:
    with pytest.raises(ValueError, match="'nope'"):
        migrate(settings, databases=["storeml", "nope"])


# -- concurrency ---------------------------------------------------------------------------------


def test_two_migrators_at_once_both_succeed_and_record_each_file_once(
    settings: Settings, isolated_env: dict[str, str], sql_snapshot: Path
) -> None:
    expected = _expected_files(sql_snapshot)
    barrier = threading.Barrier(2)
    reports: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            reports.append(migrate(settings, sql_dir=sql_snapshot))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert len(reports) == 2
    total = sum(len(v) for v in expected.values())
    assert sum(r.applied_count for r in reports) == total  # type: ignore[attr-defined]
    assert sum(len(r.created_databases) for r in reports) == len(ALL_DATABASES)  # type: ignore[attr-defined]
    for db, files in expected.items():
        if not files:
            continue
        counts = _query(
            isolated_env[db],
            f"select filename, count(*) from public.{MIGRATIONS_TABLE} group by filename order by filename",
        )
        assert counts == [(name, 1) for name in sorted(files)], db


def test_two_migrator_processes_at_once(isolated_env: dict[str, str], sql_snapshot: Path) -> None:
    """Two OS processes migrate the storeml database at once (one database keeps the test cheap)."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from storeml_assets.db.migrate import migrate\n"
        "print(migrate(sql_dir=Path(sys.argv[1]), databases=['storeml']).applied_count)\n"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(sql_snapshot)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=PROJECT_ROOT,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in processes]

    assert [p.returncode for p in processes] == [0, 0], [err for _, err in outputs]
    files = _expected_files(sql_snapshot)["storeml"]
    assert sum(int(out.strip()) for out, _ in outputs) == len(files)  # each file applied by exactly one
    recorded = _query(
        isolated_env["storeml"],
        f"select count(*), count(distinct filename) from public.{MIGRATIONS_TABLE}",
    )
    assert recorded == [(len(files), len(files))]


def test_second_migrator_waits_for_the_advisory_lock(
    settings: Settings, isolated_env: dict[str, str], tmp_path: Path
) -> None:
    sql_dir = tmp_path / "sql"
    _write(sql_dir / "storeml", "001_a.sql", "create table public.a (id int);")
    migrate(settings, sql_dir=sql_dir, databases=["storeml"])
    _write(sql_dir / "storeml", "002_b.sql", "create table public.b (id int);")
    url = isolated_env["storeml"]

    holder = psycopg2.connect(url)
    holder.autocommit = True
    done = threading.Event()
    results: list[object] = []
    try:
        with holder.cursor() as cur:
            cur.execute("select pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))

        def run() -> None:
            results.append(migrate(settings, sql_dir=sql_dir, databases=["storeml"]))
            done.set()

        thread = threading.Thread(target=run)
        thread.start()
        assert not done.wait(1.0), "migrate ran although another session held the migration lock"
        assert _recorded(url) == ["001_a.sql"]
        with holder.cursor() as cur:
            cur.execute("select pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
        thread.join(timeout=30)
    finally:
        holder.close()

    assert done.is_set()
    assert results[0].applied == {"storeml": ["002_b.sql"]}  # type: ignore[attr-defined]
    assert _recorded(url) == ["001_a.sql", "002_b.sql"]


# -- failures ----------------------------------------------------------------------------------


def test_changed_checksum_is_an_error_naming_the_file(
    settings: Settings, isolated_env: dict[str, str], tmp_path: Path
) -> None:
    sql_dir = tmp_path / "sql"
    _write(sql_dir / "storeml", "001_a.sql", "create table public.a (id int);")
    migrate(settings, sql_dir=sql_dir, databases=["storeml"])
    _write(sql_dir / "storeml", "001_a.sql", "create table public.a (id bigint);")
    _write(sql_dir / "storeml", "002_b.sql", "create table public.b (id int);")

    with pytest.raises(MigrationError, match=r"storeml: 001_a\.sql was changed"):
        migrate(settings, sql_dir=sql_dir, databases=["storeml"])
    assert _recorded(isolated_env["storeml"]) == ["001_a.sql"]  # nothing else applied


def test_broken_file_names_the_file_and_keeps_earlier_files(
    settings: Settings, isolated_env: dict[str, str], tmp_path: Path
) -> None:
    sql_dir = tmp_path / "sql"
    folder = sql_dir / "storeml"
    _write(folder, "001_ok.sql", "create table public.ok (id int);\nselect '100%' where 'a' like '%s';")
    _write(folder, "002_broken.sql", "create table public.half (id int);\nselect no_such_column from public.ok;")
    _write(folder, "003_later.sql", "create table public.later (id int);")
    url = isolated_env["storeml"]

    with pytest.raises(MigrationError) as caught:
        migrate(settings, sql_dir=sql_dir, databases=["storeml"])

    message = str(caught.value)
    assert message.startswith("storeml: 002_broken.sql failed:")
    assert "no_such_column" in message
    assert "\n" not in message
    assert _recorded(url) == ["001_ok.sql"]
    present = {r[0] for r in _query(url, "select tablename from pg_tables where schemaname = 'public'")}
    assert "ok" in present
    assert "half" not in present  # the failing file's transaction was rolled back
    assert "later" not in present
    assert pending(settings, sql_dir=sql_dir)["storeml"] == ["002_broken.sql", "003_later.sql"]

    _write(folder, "002_broken.sql", "create table public.half (id int);")  # fixed: never recorded, so allowed
    assert migrate(settings, sql_dir=sql_dir, databases=["storeml"]).applied == {
        "storeml": ["002_broken.sql", "003_later.sql"]
    }


def test_error_message_is_redacted(settings: Settings, tmp_path: Path) -> None:
    sql_dir = tmp_path / "sql"
    _write(
        sql_dir / "storeml",
        "001_leak.sql",
        "do $$ begin raise exception 'cannot reach postgresql://app:s3cr3t@db.internal/x'; end $$;",
    )
    with pytest.raises(MigrationError) as caught:
        migrate(settings, sql_dir=sql_dir, databases=["storeml"])
    assert "001_leak.sql" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)
    assert "app:***@" in str(caught.value)


@pytest.fixture
def restricted_role(pg_server_url: str) -> Iterator[str]:
    """A login role that may not create databases; yields its name."""
    role = f"nocreate_{uuid.uuid4().hex[:8]}"
    admin = with_database(pg_server_url, "postgres")
    _execute(admin, sql.SQL("create role {} login nocreatedb").format(sql.Identifier(role)))
    try:
        yield role
    finally:
        _execute(admin, sql.SQL("drop role if exists {}").format(sql.Identifier(role)))


def test_existing_database_needs_no_create_privilege(pg_server_url: str, restricted_role: str) -> None:
    name = f"t_{uuid.uuid4().hex[:12]}"
    missing = f"t_{uuid.uuid4().hex[:12]}"
    as_role = pg_server_url.replace("postgresql://postgres@", f"postgresql://{restricted_role}@", 1)
    if as_role == pg_server_url:
        pytest.skip("test server URL does not use the postgres superuser; cannot build a restricted URL")
    admin_url = with_database(pg_server_url, name)
    assert ensure_database(admin_url) is True
    try:
        assert ensure_database(admin_url) is False  # second call: exists, nothing to do
        assert ensure_database(with_database(as_role, name)) is False
        with pytest.raises(MigrationError, match=rf"{missing}: cannot create database.*permission denied"):
            ensure_database(with_database(as_role, missing))
    finally:
        drop_database(pg_server_url, name)
        drop_database(pg_server_url, missing)


# -- the mlops tables and views -------------------------------------------------------------------


@pytest.fixture
def storeml_url(settings: Settings, isolated_env: dict[str, str], tmp_path: Path) -> str:
    """The storeml database migrated with storeml's own files only."""
    sql_dir = tmp_path / "sql"
    (sql_dir / "storeml").mkdir(parents=True)
    for name in STOREML_OWN_FILES:
        shutil.copy(PROJECT_ROOT / "sql" / "storeml" / name, sql_dir / "storeml" / name)
    migrate(settings, sql_dir=sql_dir, databases=["storeml"])
    return isolated_env["storeml"]


SIX_GATES_PASSED = (
    '{"data_volume": {"passed": true}, "performance_floor": {"passed": true},'
    ' "no_regression": {"passed": true, "reason": "no champion"}, "calibration": {"passed": true},'
    ' "data_drift": {"passed": true}, "segment_consistency": {"passed": true}}'
)
FOUR_OF_SIX = (
    '[{"gate": "data_volume", "passed": true}, {"gate": "performance_floor", "passed": false},'
    ' {"gate": "no_regression", "passed": true}, {"gate": "calibration", "passed": false},'
    ' {"gate": "data_drift", "passed": true}, {"gate": "segment_consistency", "passed": true}]'
)


def test_every_view_queries_on_empty_tables(storeml_url: str) -> None:
    for view in MLOPS_VIEWS:
        assert _query(storeml_url, f"select * from mlops.{view}") == []


def test_views_show_decisions_timeline_and_latest_metrics(storeml_url: str) -> None:
    url = storeml_url
    _execute(
        url,
        "insert into mlops.model_versions"
        " (model_name, mlflow_run_id, model_version, status, f1_score, brier_score, created_at, promoted_at, archived_at)"
        " values"
        " ('propensity', 'run-1', '1', 'archived', 0.70, 0.20, '2026-01-01T00:00Z', '2026-01-01T01:00Z', '2026-02-01T00:00Z'),"
        " ('propensity', 'run-2', '2', 'production', 0.80, 0.15, '2026-01-31T00:00Z', '2026-02-01T00:00Z', null),"
        " ('propensity', 'run-3', '3', 'staging', 0.60, 0.30, '2026-03-01T00:00Z', null, null)",
    )
    _execute(
        url,
        "insert into mlops.retraining_decisions"
        " (decision_timestamp, action, model_name, candidate_mlflow_run_id, champion_mlflow_run_id, gate_results, reasoning)"
        " values ('2026-02-01T00:00Z', 'promote', 'propensity', 'run-2', 'run-1', %s, 'all gates passed'),"
        " ('2026-03-01T00:00Z', 'reject', 'propensity', 'run-3', 'run-2', %s, 'two gates failed')",
        (SIX_GATES_PASSED, FOUR_OF_SIX),
    )
    _execute(
        url,
        'insert into mlops.monitoring_metrics ("timestamp", metric_type, metric_name, metric_value) values'
        " ('2026-02-10T00:00Z', 'drift', 'drift_share', 0.10),"
        " ('2026-02-20T00:00Z', 'drift', 'drift_share', 0.35),"
        " ('2026-02-15T00:00Z', 'coverage', 'active_customers_scored', 0.97)",
    )

    decisions = _query(
        url,
        "select action, candidate_mlflow_run_id, model_name, model_version, status, f1_score, brier_score,"
        " gates_passed, gates_total, failed_gates from mlops.v_decision_history",
    )
    assert decisions == [
        ("reject", "run-3", "propensity", "3", "staging", 0.60, 0.30, 4, 6, ["calibration", "performance_floor"]),
        ("promote", "run-2", "propensity", "2", "production", 0.80, 0.15, 6, 6, []),
    ]

    timeline = _query(
        url,
        "select model_version, status, to_char(production_from at time zone 'UTC', 'YYYY-MM-DD HH24:MI'),"
        " to_char(production_until at time zone 'UTC', 'YYYY-MM-DD HH24:MI'), is_production, promotion_number,"
        " time_in_production is not null"
        " from mlops.v_model_timeline",
    )
    assert timeline == [
        ("1", "archived", "2026-01-01 01:00", "2026-02-01 00:00", False, 1, True),
        ("2", "production", "2026-02-01 00:00", None, True, 2, True),
        ("3", "staging", None, None, False, None, False),
    ]
    in_production_mid_january = _query(
        url,
        "select model_version from mlops.v_model_timeline where production_from <= '2026-01-15T00:00Z'"
        " and (production_until is null or production_until > '2026-01-15T00:00Z')",
    )
    assert in_production_mid_january == [("1",)]

    recent = _query(
        url, "select metric_type, metric_name, metric_value from mlops.v_recent_monitoring order by metric_type"
    )
    assert recent == [("coverage", "active_customers_scored", 0.97), ("drift", "drift_share", 0.35)]


def test_timeline_falls_back_to_next_promotion_when_archived_at_is_missing(storeml_url: str) -> None:
    _execute(
        storeml_url,
        "insert into mlops.model_versions (model_name, mlflow_run_id, model_version, status, promoted_at) values"
        " ('m', 'a', '1', 'archived', '2026-01-01T00:00Z'), ('m', 'b', '2', 'production', '2026-01-10T00:00Z')",
    )
    rows = _query(
        storeml_url,
        "select model_version, production_until = '2026-01-10T00:00Z'::timestamptz from mlops.v_model_timeline"
        " where model_version = '1'",
    )
    assert rows == [("1", True)]


def test_at_most_one_production_version_per_model(storeml_url: str) -> None:
    insert = (
        "insert into mlops.model_versions (model_name, mlflow_run_id, model_version, status)"
        " values (%s, %s, %s, %s)"
    )
    _execute(storeml_url, insert, ("propensity", "run-1", "1", "production"))
    _execute(storeml_url, insert, ("other_model", "run-x", "1", "production"))  # another model: fine
    _execute(storeml_url, insert, ("propensity", "run-2", "2", "staging"))
    with pytest.raises(psycopg2.errors.UniqueViolation, match="model_versions_one_production_per_model"):
        _execute(storeml_url, "update mlops.model_versions set status = 'production' where mlflow_run_id = 'run-2'")
    with pytest.raises(psycopg2.errors.CheckViolation):
        _execute(storeml_url, insert, ("propensity", "run-3", "3", "retired"))
    # the promotion sequence the lifecycle uses: archive the champion, then promote, in one transaction
    _execute(
        storeml_url,
        "update mlops.model_versions set status = 'archived', archived_at = now()"
        " where model_name = 'propensity' and status = 'production';"
        " update mlops.model_versions set status = 'production', promoted_at = now() where mlflow_run_id = 'run-2'",
    )
    production = _query(
        storeml_url, "select model_name, mlflow_run_id from mlops.model_versions where status = 'production' order by 1"
    )
    assert production == [("other_model", "run-x"), ("propensity", "run-2")]


def test_check_constraints_reject_unknown_kinds(storeml_url: str) -> None:
    with pytest.raises(psycopg2.errors.CheckViolation):
        _execute(
            storeml_url,
            "insert into mlops.monitoring_metrics (metric_type, metric_name, metric_value) values ('vibes', 'x', 1)",
        )
    with pytest.raises(psycopg2.errors.CheckViolation):
        _execute(
            storeml_url,
            "insert into mlops.retraining_decisions (action, gate_results) values ('maybe', '{}')",
        )
    with pytest.raises(psycopg2.errors.NotNullViolation):
        _execute(storeml_url, "insert into mlops.retraining_decisions (action) values ('pending')")
    started = time.time()
    _execute(storeml_url, "insert into mlops.predictions (model_name, input, output) values ('m', '{}', '{}')")
    assert _query(storeml_url, "select count(*) from mlops.predictions where \"timestamp\" >= to_timestamp(%s)", (
        started - 60,
    )) == [(1,)]


def test_unreachable_server_is_one_redacted_line() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://alice:Sup3rS3cret@127.0.0.1:{port}/storeml"
    with pytest.raises(DatabaseUnreachableError) as caught:
        ensure_database(url)
    message = str(caught.value)
    assert message.startswith(f"cannot reach database at 127.0.0.1:{port}")
    assert "Sup3rS3cret" not in message
    assert "\n" not in message


def test_external_sources_are_never_migrated(
    isolated_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, pg_server_url: str
) -> None:
    """With real storefront databases configured, only storeml's own databases are touched."""
    monkeypatch.setenv("STOREML_SOURCE_MODE", "external")
    report = migrate(Settings.from_env())
    assert set(report.databases) == {"storeml", "dagster", "mlflow"}
    conn = psycopg2.connect(with_database(pg_server_url, "postgres"))
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select count(*) from pg_database where datname = any(%s)",
                ([isolated_env[db].rsplit("/", 1)[1] for db in ("auth_db", "storefront_db")],),
            )
            assert cur.fetchone() == (0,)
    finally:
        conn.close()
