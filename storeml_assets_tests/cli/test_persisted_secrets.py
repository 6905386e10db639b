"""No password reaches anything persisted: the dagster, mlflow and storeml databases and the data folder.

Every database URL carries a password (the test server trusts local connections, so it is
accepted and ignored). A migration and a plain `dagster asset materialize` run with those URLs,
then the same materialization with a scheme-less ``STOREML_DB_URL`` and with an unencoded ``/``
in its password (both once leaked the password into ``event_logs`` rows and compute logs).
Afterwards ``pg_dump`` of the three databases and every file under the data folder are searched
for any piece of the passwords.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from storeml_assets.db.embedded import _bin_path
from storeml_assets.instance import link_instance_config
from storeml_assets.settings import DATABASE_URL_ENV, Settings
from storeml_assets_tests.cli.invoke import run_subprocess
from storeml_assets_tests.conftest import PROJECT_ROOT

#: percent-encoded in the configured URLs; decoded it is "Qpers1st/Qsecr3t@Qhidd3n"
PASSWORD = "Qpers1st%2FQsecr3t%40Qhidd3n"
PIECES = ["Qpers1st", "Qsecr3t", "Qhidd3n", "Qsch3meless", "Qsl4sh"]
#: the embedded server's own pg_dump: new enough for it and for any older server the suite may use
PG_DUMP = _bin_path() / "pg_dump"


def _with_password(url: str) -> str:
    scheme, rest = url.split("://", 1)
    userinfo, host = rest.split("@", 1) if "@" in rest else ("postgres", rest)
    return f"{scheme}://{userinfo.split(':', 1)[0]}:{PASSWORD}@{host}"


def _materialize(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("dagster")
    return subprocess.run(
        [str(exe), "asset", "materialize", "-m", "storeml_assets.definitions", "--select", "raw/categories"],
        cwd=env["DAGSTER_HOME"], env=env, capture_output=True, text=True, timeout=600,
    )


def test_no_password_in_databases_or_files_after_runs(isolated_env: dict[str, str], tmp_path: Path) -> None:
    home = tmp_path / "home"
    urls = {db: _with_password(url) for db, url in isolated_env.items()}
    storeml_env = {DATABASE_URL_ENV[db]: url for db, url in urls.items()} | {"STOREML_HOME": str(home)}

    migrated = run_subprocess(["db", "migrate"], storeml_env)
    assert migrated.code == 0, migrated.output

    base = {k: v for k, v in os.environ.items() if not k.startswith(("STOREML_", "DAGSTER_"))}
    tracked = subprocess.run(  # MLflow's tables and the project's experiment, through the project's resource
        [sys.executable, "-c", "from storeml_assets.ml.mlflow_resource import MlflowTracking as M; "
                               "print(M().experiment_id())"],
        env=base | storeml_env, capture_output=True, text=True, timeout=300,
    )
    assert tracked.returncode == 0, tracked.stderr[-3000:]
    assert not [p for p in PIECES if p in tracked.stdout + tracked.stderr]

    settings = Settings(project_root=PROJECT_ROOT, home=home, server_url=None)
    link_instance_config(settings)
    env = base | storeml_env | {"DAGSTER_HOME": str(settings.dagster_home)}
    ran = _materialize(env)
    assert "RUN_START" in ran.stdout + ran.stderr, (ran.stdout + ran.stderr)[-3000:]

    for bad in (
        "storeml:Qsch3meless@127.0.0.1:5432/storeml",  # no scheme
        "postgresql://postgres:Qsl4sh/Qsecr3t@127.0.0.1:5432/storeml",  # unencoded '/'
    ):
        failed = _materialize(env | {"STOREML_DB_URL": bad})
        said = failed.stdout + failed.stderr
        assert failed.returncode != 0
        assert "STOREML_DB_URL" in said, said[-3000:]
        assert not [p for p in PIECES if p in said], said[-3000:]

    for db in ("dagster", "mlflow", "storeml"):
        dump = subprocess.run([str(PG_DUMP), "--no-owner", isolated_env[db]], capture_output=True, text=True,
                              timeout=300)
        assert dump.returncode == 0, dump.stderr
        assert len(dump.stdout) > 1000  # a real dump (tables, rows)
        assert not [p for p in PIECES if p in dump.stdout], db
    for path in home.rglob("*"):
        if path.is_file() and not path.is_symlink():
            text = path.read_bytes().decode("utf-8", errors="replace")
            assert not [p for p in PIECES if p in text], path
