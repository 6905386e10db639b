"""Every error a newcomer meets in the first hour is one line, names the bad input, and hides passwords."""

from __future__ import annotations

import pytest

from storeml_assets.db.migrate import database_exists
from storeml_assets_tests.cli.invoke import run_in_process, run_subprocess

UNREACHABLE = "postgresql://storeml:Qunreach4ble@127.0.0.1:1"


def test_scheme_less_url_names_the_variable_and_hides_the_password(tmp_path) -> None:
    env = {"STOREML_HOME": str(tmp_path), "STOREML_PG_URL": "u:secretpw@127.0.0.1:1/x"}
    for args in (["db", "status"], ["db", "url"], ["demo", "--scale", "tiny"]):
        outcome = run_subprocess(args, env)
        assert outcome.code == 2, (args, outcome.output)
        assert outcome.error_lines == [
            "error: STOREML_PG_URL is not a PostgreSQL URL (it must start with postgresql://): u:***@127.0.0.1:1/x"
        ], (args, outcome.output)
        assert "secretpw" not in outcome.output
        assert "localhost:5432" not in outcome.output  # `db status` once claimed a configured default server


@pytest.mark.parametrize(
    ("url", "fragments"),
    [
        ("postgresql://probe:S3/cret@127.0.0.1:5432/storeml", ["S3", "cret"]),
        ("postgresql://probe:S3@cret@127.0.0.1:5432/storeml", ["S3", "cret"]),
        ("postgresql://probe:S3#cret@127.0.0.1:5432/storeml", ["S3", "cret"]),
    ],
)
def test_unencoded_character_in_the_password_is_named_not_echoed(tmp_path, url: str, fragments: list[str]) -> None:
    env = {"STOREML_HOME": str(tmp_path), "STOREML_DB_URL": url}
    for args in (["db", "url"], ["db", "status"], ["check"]):
        outcome = run_in_process(args, env)
        assert outcome.code == 2, (args, outcome.output)
        (line,) = outcome.error_lines
        assert line.startswith("error: STOREML_DB_URL has an unencoded '/', '@', '?' or '#'"), line
        assert "postgresql://probe:***@" in line
        assert not [f for f in fragments if f in outcome.output], outcome.output


def test_embedded_port_that_is_not_a_port_names_the_variable(tmp_path) -> None:
    for value, reason in (("notaport", "must be an integer, got 'notaport'"), ("70000", "between 1 and 65535")):
        env = {"STOREML_HOME": str(tmp_path), "STOREML_EMBEDDED_PORT": value}
        outcome = run_in_process(["demo", "--scale", "tiny"], env)
        assert outcome.code == 2, outcome.output
        (line,) = outcome.error_lines
        assert line.startswith("error: STOREML_EMBEDDED_PORT ") and reason in line, line
        assert not (tmp_path / "pg").exists()  # no embedded server was set up


def test_db_up_checks_a_configured_server(tmp_path, pg_server_url: str) -> None:
    down = run_in_process(["db", "up"], {"STOREML_HOME": str(tmp_path), "STOREML_PG_URL": UNREACHABLE})
    assert down.code == 1, down.output
    (line,) = down.error_lines
    assert line.startswith("error: cannot reach database at 127.0.0.1:1: ") and "refused" in line, line
    assert "Qunreach4ble" not in down.output and "nothing to start" not in down.output

    up = run_in_process(["db", "up"], {"STOREML_HOME": str(tmp_path), "STOREML_PG_URL": pg_server_url})
    assert up.code == 0, up.output
    assert "configured server reachable at" in up.stdout


def test_check_with_the_database_unreachable_is_one_line(tmp_path) -> None:
    outcome = run_subprocess(["check"], {"STOREML_HOME": str(tmp_path), "STOREML_PG_URL": UNREACHABLE})
    assert outcome.code == 1, outcome.output
    assert outcome.stdout == ""
    assert outcome.error_lines == [
        'error: cannot reach database at 127.0.0.1:1: connection to server at "127.0.0.1", port 1 failed: '
        "Connection refused"
    ], outcome.stderr


def test_demo_validates_every_argument_before_any_work(isolated_env: dict[str, str], tmp_path) -> None:
    env = {"STOREML_HOME": str(tmp_path), **_url_env(isolated_env)}
    for args, message in (
        (["demo", "--scale", "huge"], "error: --scale must be one of tiny, small, medium, large, got 'huge'"),
        (["demo", "--seed", "-1"], "error: --seed must be zero or positive, got -1"),
    ):
        outcome = run_in_process(args, env)
        assert outcome.code == 2, outcome.output
        assert outcome.error_lines == [message]
        assert "migrate" not in outcome.stdout
    assert not database_exists(isolated_env["storeml"])  # nothing was migrated
    assert not database_exists(isolated_env["dagster"])


def _url_env(urls: dict[str, str]) -> dict[str, str]:
    from storeml_assets.settings import DATABASE_URL_ENV

    return {DATABASE_URL_ENV[db]: url for db, url in urls.items()}
