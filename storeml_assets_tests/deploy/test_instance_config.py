"""Both dagster.yaml files pass Dagster's own instance-config validation and load a real instance."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.config import dagster_instance_config
from dagster._core.launcher import DefaultRunLauncher
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from storeml_assets_tests.deploy.checks import DOCKER_DIR, PROJECT_ROOT, load_yaml

ROOT_YAML = PROJECT_ROOT / "dagster.yaml"
DOCKER_YAML = DOCKER_DIR / "dagster.yaml"
FAKE_URL = "postgresql://storeml:not-a-password@localhost:5432/dagster"


@pytest.mark.parametrize("path", [ROOT_YAML, DOCKER_YAML], ids=["root", "docker"])
def test_instance_config_validates(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOREML_DAGSTER_DB_URL", FAKE_URL)
    config, custom_class = dagster_instance_config(str(path.parent), path.name)
    assert custom_class is None
    if path == ROOT_YAML:  # the checkout's instance finds the `dagster` database from storeml's settings
        assert config["storage"] == {
            "custom": {"module": "storeml_assets.instance", "class": "ProjectPostgresStorage", "config": {}}
        }
    else:
        assert config["storage"] == {"postgres": {"postgres_url": {"env": "STOREML_DAGSTER_DB_URL"}}}
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["run_retries"]["enabled"] is True and config["run_retries"]["max_retries"] >= 1
    monitoring = config["run_monitoring"]
    assert monitoring["enabled"] is True
    assert monitoring["start_timeout_seconds"] > 0 and monitoring["cancel_timeout_seconds"] > 0
    assert config["concurrency"]["pools"]["default_limit"] >= 1
    assert config["retention"]["schedule"]["purge_after_days"] > 0
    assert config["telemetry"]["enabled"] is False


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("run_retries:\n  enabled: true\n  max_retrys: 1\n", "max_retrys"),
        ("run_monitoring:\n  enabled: true\n  start_timeout_seconds: soon\n", "start_timeout_seconds"),
    ],
)
def test_validation_rejects_a_broken_file(tmp_path: Path, bad: str, message: str) -> None:
    (tmp_path / "dagster.yaml").write_text(bad)
    with pytest.raises(dg.DagsterInvalidConfigError, match=message):
        dagster_instance_config(str(tmp_path), "dagster.yaml")


def _top_level_blocks(path: Path) -> dict[str, list[str]]:
    """Each top-level key with its lines, including the comment lines right above it."""
    blocks: dict[str, list[str]] = {}
    pending: list[str] = []
    current: list[str] | None = None
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            pending.append(line)
        elif line and not line[0].isspace():
            current = blocks[line.split(":", 1)[0]] = [*pending, line]
            pending = []
        elif line.strip():
            if current is not None:
                current.append(line)
        else:
            pending = []
    return blocks


def test_every_setting_is_explained_by_a_comment() -> None:
    # docker/dagster.yaml only: the root file belongs to the foundation work (its telemetry and nux
    # blocks carry no comment yet).
    for path in (DOCKER_YAML,):
        blocks = _top_level_blocks(path)
        assert set(blocks) >= {
            "storage",
            "run_coordinator",
            "run_monitoring",
            "run_retries",
            "retention",
            "telemetry",
        }
        for key, lines in blocks.items():
            assert any(line.lstrip().startswith("#") for line in lines), (
                f"{path.name}: {key} is not explained"
            )


def test_docker_instance_keeps_the_root_production_settings() -> None:
    root, docker = load_yaml(ROOT_YAML), load_yaml(DOCKER_YAML)
    for key in ("retention", "telemetry"):
        assert docker[key] == root[key], f"docker/dagster.yaml drifted from dagster.yaml in {key}"
    for key in ("enabled", "max_retries"):
        assert docker["run_retries"][key] == root["run_retries"][key], f"run_retries.{key} drifted"
    assert (
        docker["run_monitoring"]["cancel_timeout_seconds"] == root["run_monitoring"]["cancel_timeout_seconds"]
    )


@pytest.fixture
def dagster_home(tmp_path: Path, fresh_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("STOREML_DAGSTER_DB_URL", fresh_db)
    yield home


def _assert_production_settings(instance: dg.DagsterInstance, source: dict) -> None:
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
    assert instance.run_retries_enabled is True
    assert instance.run_retries_max_retries == source["run_retries"]["max_retries"]
    assert instance.run_monitoring_enabled is True
    assert instance.run_monitoring_start_timeout_seconds == source["run_monitoring"]["start_timeout_seconds"]
    assert (
        instance.run_monitoring_cancel_timeout_seconds == source["run_monitoring"]["cancel_timeout_seconds"]
    )
    assert instance.telemetry_enabled is False
    concurrency = instance.get_concurrency_config()
    assert concurrency.pool_config.default_pool_limit == source["concurrency"]["pools"]["default_limit"]
    assert (
        concurrency.run_queue_config.max_concurrent_runs
        == source["concurrency"]["runs"]["max_concurrent_runs"]
    )


def _store_and_read_a_run(instance: dg.DagsterInstance) -> None:
    """Prove the storage is live: a run written through the instance comes back from Postgres."""

    @dg.op
    def noop() -> None:
        return None

    @dg.job
    def deploy_probe() -> None:
        noop()

    result = deploy_probe.execute_in_process(instance=instance)
    assert result.success
    record = instance.get_run_record_by_id(result.run_id)
    assert record is not None and record.dagster_run.status == dg.DagsterRunStatus.SUCCESS


def test_root_instance_loads_on_postgres(dagster_home: Path) -> None:
    shutil.copyfile(ROOT_YAML, dagster_home / "dagster.yaml")
    with dg.DagsterInstance.get() as instance:
        _assert_production_settings(instance, load_yaml(ROOT_YAML))
        _store_and_read_a_run(instance)


def test_docker_instance_loads_on_postgres(dagster_home: Path, tmp_path: Path) -> None:
    # The container paths are redirected to a temporary folder; every other line is as shipped.
    text = DOCKER_YAML.read_text()
    assert text.count("/opt/dagster/storage") == 2
    (dagster_home / "dagster.yaml").write_text(
        text.replace("/opt/dagster/storage", str(tmp_path / "storage"))
    )
    with dg.DagsterInstance.get() as instance:
        _assert_production_settings(instance, load_yaml(DOCKER_YAML))
        assert isinstance(instance.run_launcher, DefaultRunLauncher)
        _store_and_read_a_run(instance)
        assert (tmp_path / "storage").is_dir()


def test_project_storage_remembers_schema_checks_that_hold(dagster_home: Path) -> None:
    """Dagster inspects the catalog for each asset event; the project's storage asks once per fact."""
    import sqlalchemy as sa

    from storeml_assets.instance import ProjectEventLogStorage

    shutil.copyfile(ROOT_YAML, dagster_home / "dagster.yaml")
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, ProjectEventLogStorage)
        statements: list[str] = []

        def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
            statements.append(statement)

        sa.event.listen(storage._engine, "before_cursor_execute", count)
        try:
            assert storage.can_read_asset_status_cache() is True
            assert storage.supports_asset_checks is True
            first = len(statements)
            assert first > 0
            for _ in range(3):
                assert storage.can_read_asset_status_cache() is True
                assert storage.supports_asset_checks is True
            assert len(statements) == first, statements[first:]
            # what does not exist is looked up again each time (a migration may add it)
            assert storage.has_asset_key_col("no_such_column") is False
            looked_up = len(statements)
            assert storage.has_asset_key_col("no_such_column") is False
            assert len(statements) > looked_up
            assert storage.has_table("no_such_table") is False
        finally:
            sa.event.remove(storage._engine, "before_cursor_execute", count)
        _store_and_read_a_run(instance)
