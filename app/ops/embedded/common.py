"""What both embedded servers share: their address, free ports, generated passwords, logs, live processes."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from pathlib import Path

import psutil

HOST = "127.0.0.1"
_RESERVED_PORTS = frozenset({5432, 6379})  # the usual system servers' ports: never collide with them
ATTEMPTS = 3
# Failures a retry on a fresh port fixes: a port race, or (after kill -9) old backends still
# holding the shared memory for a moment.
RETRYABLE = ("already in use", "could not bind", "could not create any TCP/IP sockets", "still in use")


def free_port(host: str = HOST) -> int:
    """Return a TCP port free on host right now (never 5432 or 6379)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
        if port not in _RESERVED_PORTS:
            return port


def file_size(path: Path) -> int:
    """Bytes in `path`, 0 when it does not exist: where a log's new lines start."""
    return path.stat().st_size if path.exists() else 0


def log_tail(path: Path, since: int) -> str:
    """What the log got after offset since: logs grow across runs and old errors would mislead."""
    try:
        with path.open("rb") as fh:
            fh.seek(max(since, fh.seek(0, os.SEEK_END) - 8192))
            return "\n".join(fh.read().decode(errors="replace").splitlines()[-25:]) or "(nothing logged)"
    except OSError:
        return "(no log)"


def failed(what: str, detail: object, logfile: Path, since: int) -> RuntimeError:
    """An error naming what failed and quoting the log's new lines."""
    return RuntimeError(f"embedded {what} failed ({detail}); end of {logfile}:\n{log_tail(logfile, since)}")


def live_process(pid: int, exe: Path) -> psutil.Process | None:
    """The process pid if alive, not a zombie, and running exe (pids get reused after kill -9)."""
    with contextlib.suppress(psutil.Error, OSError):
        proc = psutil.Process(pid)
        if proc.status() != psutil.STATUS_ZOMBIE and Path(proc.exe()).resolve() == exe.resolve():
            return proc
    return None


def generated_password(data_dir: Path, name: str) -> str:
    """The password kept in data_dir/name (mode 0600), made on first use."""
    path = data_dir / name
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(24) + "\n")
    return path.read_text().strip()
