"""One storeml command at a time per data folder: an advisory lock file under ``$STOREML_HOME``.

Commands that rewrite the home's data (`storeml demo`, which re-simulates the storefront and
rebuilds every table) hold an exclusive ``flock`` on ``$STOREML_HOME/storeml.lock`` for their whole
run. The file names the holder (pid, command, start time), so a second command refuses with
"another storeml demo is running, pid N" instead of training on the other one's storefront. The
kernel drops the lock when the holder exits for any reason (a crash or ``kill -9`` included), so a
dead command never blocks the next one.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

LOCK_FILE = "storeml.lock"


class HomeBusyError(RuntimeError):
    """Another storeml command holds the data folder's lock; the message names it."""


@dataclass(frozen=True)
class LockHolder:
    pid: int | None
    command: str
    host: str
    started_at: str

    def describe(self) -> str:
        pid = f"pid {self.pid}" if self.pid is not None else "pid unknown"
        where = f" on {self.host}" if self.host and self.host != socket.gethostname() else ""
        since = f", since {self.started_at}" if self.started_at else ""
        return f"another storeml {self.command or 'command'} is running, {pid}{where}{since}"


def lock_path(home: Path) -> Path:
    return home / LOCK_FILE


def _read_holder(fd: int) -> LockHolder:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 4096).decode("utf-8", "replace")
    try:
        data = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError:
        data = {}
    pid = data.get("pid")
    return LockHolder(
        pid=pid if isinstance(pid, int) else None,
        command=str(data.get("command", "")),
        host=str(data.get("host", "")),
        started_at=str(data.get("started_at", "")),
    )


def current_holder(home: Path) -> LockHolder | None:
    """Who holds ``home``'s lock right now, or None when nobody does."""
    path = lock_path(home)
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@contextmanager
def home_lock(home: Path, command: str) -> Iterator[LockHolder]:
    """Hold ``home``'s exclusive lock as ``command``; raise :class:`HomeBusyError` if another holds it.

    Never waits: a second command is told at once who is running, instead of hanging.
    """
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(home), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            raise HomeBusyError(
                f"{holder.describe()} (data folder {home}); wait for it to finish or stop it"
            ) from None
        holder = LockHolder(
            pid=os.getpid(),
            command=command,
            host=socket.gethostname(),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(holder.__dict__).encode())
        os.fsync(fd)
        try:
            yield holder
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
