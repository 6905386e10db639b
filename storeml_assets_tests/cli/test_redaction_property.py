"""Property: whatever the shape of a database URL, no command ever shows (or logs) its password.

Each example builds a URL (no scheme, odd or invalid ports, percent-encoded or raw special
characters, user only with the password in the query string, ...), puts it in one of storeml's URL
variables and runs one `storeml` command through the real entry point. Passwords are made of
distinctive segments joined by special characters, so a leaked fragment is caught too (an
unencoded ``/`` once leaked the part before it through "Port could not be cast to integer").
Every server here is unreachable (closed port or invalid URL): the commands fail fast.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storeml_assets.db.urls import check_url, redact
from storeml_assets_tests.cli.invoke import run_in_process

SEGMENT = st.builds(lambda tail: "Q" + tail,
                    st.text("abcdefghjkmnpqrstuvwxyz23456789", min_size=4, max_size=7))
SPECIAL = st.sampled_from(list("/@:#?&=+!$*-_.~%"))


@st.composite
def passwords(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A password and its distinctive segments (none of which may ever be shown)."""
    segments = draw(st.lists(SEGMENT, min_size=1, max_size=3, unique=True))
    joints = draw(st.lists(SPECIAL, min_size=len(segments) - 1, max_size=len(segments) - 1))
    password = segments[0] + "".join(j + s for j, s in zip(joints, segments[1:], strict=True))
    if draw(st.booleans()):
        password += draw(SPECIAL)
    return password, segments


#: ports that are closed, out of range or not numbers: never a reachable server
PORTS = st.sampled_from(["1", "9", "99999", "65536", "abc", "-1", "5432x", "1:2"])

SHAPES = {
    "no scheme": lambda user, pw, port: f"{user}:{pw}@127.0.0.1:{port}/storeml",
    "raw special characters": lambda user, pw, port: f"postgresql://{user}:{pw}@127.0.0.1:{port}/storeml",
    "percent-encoded": lambda user, pw, port: f"postgresql://{user}:{quote(pw, safe='')}@127.0.0.1:{port}/storeml",
    "driver scheme": lambda user, pw, port: f"postgresql+psycopg2://{user}:{quote(pw, safe='')}@localhost:{port}",
    "postgres scheme": lambda user, pw, port: f"postgres://{user}:{quote(pw, safe='')}@127.0.0.1:{port}/x",
    "user only, password in query": lambda user, pw, port: (
        f"postgresql://{user}@127.0.0.1:{port}/storeml?sslmode=disable&password={quote(pw, safe='')}"
    ),
    # raw in a query string, except '&' and '#' (which end a query value whatever was meant)
    "query-string password, raw": lambda user, pw, port: (
        f"postgresql://127.0.0.1:{port}/db?password={pw.replace('&', '-').replace('#', '-')}"
    ),
    "foreign scheme": lambda user, pw, port: f"mysql://{user}:{pw}@127.0.0.1:{port}/storeml",
}

VARIABLES = st.sampled_from([
    "STOREML_PG_URL", "STOREML_DB_URL", "STOREML_DAGSTER_DB_URL", "STOREML_MLFLOW_DB_URL",
    "STOREML_AUTH_DB_URL", "STOREML_STOREFRONT_DB_URL", "STOREML_MLFLOW_TRACKING_URI",
])

COMMANDS = st.sampled_from([
    ["db", "status"], ["db", "url"], ["db", "url", "mlflow"], ["db", "url", "auth_db"], ["db", "up"],
    ["db", "migrate"], ["check"], ["doctor"], ["mlops", "decisions"], ["demo", "--scale", "tiny"],
    ["demo", "--scale", "huge"], ["mlflow", "--port", "1"],
])


def _leaks(text: str, password: str, segments: list[str]) -> list[str]:
    return [s for s in [password, *segments] if s in text]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    secret=passwords(),
    user=st.sampled_from(["storeml", "probe", "u", "Q-not-a-secret"]),
    port=PORTS,
    shape=st.sampled_from(sorted(SHAPES)),
    variable=VARIABLES,
    command=COMMANDS,
)
def test_no_password_in_any_message_of_any_command(
    tmp_path_factory, secret, user, port, shape, variable, command
) -> None:
    password, segments = secret
    url = SHAPES[shape](user, password, port)
    home: Path = tmp_path_factory.mktemp("home")
    # every other database on a closed port of a password-less URL: nothing starts, nothing is reachable
    env = {"STOREML_HOME": str(home), "STOREML_PG_URL": "postgresql://storeml@127.0.0.1:1", variable: url}
    outcome = run_in_process(command, env)

    assert not _leaks(outcome.output, password, segments), (shape, variable, command, outcome.output)
    logged = "".join(p.read_text(errors="replace") for p in home.rglob("*") if p.is_file())
    assert not _leaks(logged, password, segments), (shape, variable, command, "log file")
    # an error is one line, whatever went wrong (`doctor` reports "not ready" on stdout instead)
    assert len(outcome.error_lines) <= 1, outcome.stderr
    assert outcome.code == 0 or outcome.error_lines or command == ["doctor"], outcome.output


@settings(max_examples=300, deadline=None)
@given(secret=passwords(), user=st.sampled_from(["storeml", "u"]), port=PORTS, shape=st.sampled_from(sorted(SHAPES)))
def test_redact_and_check_url_never_show_a_password(secret, user, port, shape) -> None:
    """The same shapes straight through the two functions every message uses, with no configured secret."""
    password, segments = secret
    url = SHAPES[shape](user, password, port)
    assert not _leaks(redact(url), password, segments), url
    assert not _leaks(redact(f"cannot connect to {url}: refused"), password, segments), url
    try:
        checked = check_url(url, "STOREML_DB_URL")
    except ValueError as exc:
        assert not _leaks(str(exc), password, segments), str(exc)
        assert str(exc).startswith("STOREML_DB_URL ")
    else:
        assert checked.startswith("postgresql://")
        assert not _leaks(redact(checked), password, segments)
