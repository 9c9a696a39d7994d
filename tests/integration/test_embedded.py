"""Real embedded PostgreSQL and Redis: start, keep data across restarts, recover from kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import psutil
import pytest
from redis import Redis
from redis.exceptions import AuthenticationError

from app.ops.embedded import EmbeddedServices, embedded_services, ensure_database, free_port
from tests.support.embedded_tmp import outside_pytest_root

# Every test here that asks for tmp_path gets one the embedded servers can always reach.
tmp_path = pytest.fixture(name="tmp_path")(outside_pytest_root)

RESERVED = {5432, 6379}
REPO = Path(__file__).resolve().parents[2]


def _redis(svc: EmbeddedServices) -> Redis:
    assert svc.redis_host is not None and svc.redis_port is not None
    return Redis(host=svc.redis_host, port=svc.redis_port, password=svc.redis_password, decode_responses=True)


async def _fetch(svc: EmbeddedServices, sql: str, dbname: str = "postgres") -> object:
    assert svc.postgres_host is not None and svc.postgres_port is not None
    conn = await asyncpg.connect(
        host=svc.postgres_host,
        port=svc.postgres_port,
        user=svc.postgres_user,
        password=svc.postgres_password,
        database=dbname,
    )
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def _postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])


def _dead(pid: int) -> bool:
    """Gone or a zombie: a killed postmaster is reaped by init, which may take a while."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def _wait_dead(pid: int) -> None:
    deadline = time.monotonic() + 10
    while not _dead(pid):
        assert time.monotonic() < deadline, f"pid {pid} still alive"
        time.sleep(0.05)


def _assert_ports(svc: EmbeddedServices) -> None:
    assert svc.postgres_host == svc.redis_host == "127.0.0.1"
    assert svc.postgres_port not in RESERVED and svc.redis_port not in RESERVED
    assert svc.postgres_user == "postgres"


def test_free_port_avoids_system_ports() -> None:
    assert all(free_port() not in RESERVED for _ in range(50))


async def _race_ensure_database(port: int, dbname: str, password: str) -> None:
    """Several processes' worth of concurrent ensure_database calls: the losers must not fail."""
    await asyncio.gather(
        *(ensure_database("127.0.0.1", port, "postgres", dbname, password=password) for _ in range(8))
    )


def test_data_survives_restart(tmp_path: Path) -> None:
    with embedded_services(tmp_path) as svc:
        _assert_ports(svc)
        assert asyncio.run(_fetch(svc, "SELECT 1")) == 1
        assert svc.postgres_port is not None
        pw = svc.postgres_password
        asyncio.run(ensure_database("127.0.0.1", svc.postgres_port, "postgres", "smart edit", password=pw))
        asyncio.run(ensure_database("127.0.0.1", svc.postgres_port, "postgres", "smart edit", password=pw))  # again
        asyncio.run(_race_ensure_database(svc.postgres_port, "raced", pw))
        assert asyncio.run(_fetch(svc, "SELECT count(*) FROM pg_database WHERE datname = 'raced'")) == 1
        asyncio.run(_fetch(svc, "CREATE TABLE kept AS SELECT 42 AS answer", dbname="smart edit"))
        assert _redis(svc).set("kept", "yes")
    # Stopped cleanly: no server left behind.
    assert not (tmp_path / "postgres" / "postmaster.pid").exists()
    assert not (tmp_path / "redis.pid").exists()

    with embedded_services(tmp_path) as svc:
        _assert_ports(svc)
        assert asyncio.run(_fetch(svc, "SELECT answer FROM kept", dbname="smart edit")) == 42
        assert _redis(svc).get("kept") == "yes"


def test_only_requested_services(tmp_path: Path) -> None:
    with embedded_services(tmp_path, postgres=False) as svc:
        assert svc.postgres_host is None and svc.postgres_port is None
        assert _redis(svc).ping()
    assert not (tmp_path / "postgres").exists()
    with embedded_services(tmp_path, redis=False) as svc:
        assert svc.redis_host is None and svc.redis_port is None
        assert asyncio.run(_fetch(svc, "SELECT 1")) == 1


def _run_and_die(data_dir: Path, *, kill_postmaster: bool) -> tuple[int, int]:
    """Start the services in a child process that then dies by SIGKILL; return the ports it got."""
    script = (
        "import os, sys\nfrom pathlib import Path\nfrom app.ops.embedded import embedded_services\n"
        "data_dir = Path(sys.argv[1])\n"
        "with embedded_services(data_dir) as s:\n"
        "    print(s.postgres_port, s.redis_port, flush=True)\n"
        "    if sys.argv[2] == 'yes':\n"
        "        os.kill(int((data_dir / 'postgres' / 'postmaster.pid').read_text().split()[0]), 9)\n"
        "    os.kill(os.getpid(), 9)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(data_dir), "yes" if kill_postmaster else "no"],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.returncode == -signal.SIGKILL, out.stderr
    pg_port, redis_port = (int(p) for p in out.stdout.split())
    return pg_port, redis_port


def test_restart_after_postmaster_sigkill(tmp_path: Path) -> None:
    with embedded_services(tmp_path, redis=False) as svc:
        asyncio.run(_fetch(svc, "CREATE TABLE t AS SELECT 7 AS v"))
    _run_and_die(tmp_path, kill_postmaster=True)
    stale = _postmaster_pid(tmp_path)  # kill -9 leaves postmaster.pid behind
    _wait_dead(stale)  # typically still an unreaped zombie here, which postgres alone would refuse

    with embedded_services(tmp_path) as svc:
        assert _postmaster_pid(tmp_path) != stale
        assert asyncio.run(_fetch(svc, "SELECT v FROM t")) == 7  # crash recovery replayed the WAL
        assert _redis(svc).ping()  # the Redis the dead run left behind (reused)

    # Killing the server under a running block: leaving the block must not raise.
    with embedded_services(tmp_path, redis=False):
        pid = _postmaster_pid(tmp_path)
        os.kill(pid, signal.SIGKILL)
        _wait_dead(pid)
    with embedded_services(tmp_path, redis=False) as svc:
        assert asyncio.run(_fetch(svc, "SELECT v FROM t")) == 7


def test_reuses_servers_of_a_killed_run(tmp_path: Path) -> None:
    # A process that dies by SIGKILL inside the block leaves both servers running.
    pg_port, redis_port = _run_and_die(tmp_path, kill_postmaster=False)
    old_pid = _postmaster_pid(tmp_path)

    with embedded_services(tmp_path) as svc:
        assert (svc.postgres_port, svc.redis_port) == (pg_port, redis_port)
        assert _postmaster_pid(tmp_path) == old_pid
        assert asyncio.run(_fetch(svc, "SELECT 1")) == 1
        assert _redis(svc).ping()
    # Reused servers are ours now: stopped on exit like the ones we start.
    assert _dead(old_pid)
    assert not (tmp_path / "redis.pid").exists()


def test_failed_start_quotes_the_log(tmp_path: Path) -> None:
    with embedded_services(tmp_path, redis=False):
        pass
    (tmp_path / "postgres" / "postgresql.auto.conf").write_text("shared_buffers = 'not a size'\n")
    started = time.monotonic()
    with (
        pytest.raises(RuntimeError, match="(?s)PostgreSQL start failed.*shared_buffers"),
        embedded_services(tmp_path, redis=False),
    ):
        pass
    assert time.monotonic() - started < 30


def test_failed_redis_start_quotes_the_log(tmp_path: Path) -> None:
    (tmp_path / "redis").mkdir()
    (tmp_path / "redis" / "appendonly.aof").write_bytes(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\ngarbage")
    with (
        pytest.raises(RuntimeError, match="(?s)Redis start failed.*append only file"),
        embedded_services(tmp_path, postgres=False),
    ):
        pass


async def _postgres_login(svc: EmbeddedServices, password: str | None) -> str:
    try:
        conn = await asyncpg.connect(
            host=svc.postgres_host, port=svc.postgres_port, user=svc.postgres_user, password=password, timeout=10
        )
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError) as exc:
        return f"refused: {exc}"
    await conn.close()
    return "accepted"


def test_the_embedded_servers_refuse_a_tcp_connection_without_credentials(tmp_path: Path) -> None:
    with embedded_services(tmp_path) as svc:
        assert asyncio.run(_postgres_login(svc, None)).startswith("refused")
        assert asyncio.run(_postgres_login(svc, "guess")).startswith("refused")
        assert asyncio.run(_postgres_login(svc, svc.postgres_password)) == "accepted"
        anonymous = Redis(host=svc.redis_host or "", port=svc.redis_port or 0)
        with pytest.raises(AuthenticationError):
            anonymous.ping()
        with pytest.raises(AuthenticationError):
            anonymous.config_set("dir", str(tmp_path))
        assert _redis(svc).ping()
        # The passwords are the service's alone: readable by its user only.
        for name in ("postgres.password", "redis.password"):
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
        assert svc.postgres_password and svc.redis_password and svc.postgres_password != svc.redis_password


def test_a_cluster_made_with_trust_auth_gets_a_password(tmp_path: Path) -> None:
    with embedded_services(tmp_path, redis=False):
        pass
    # What an older version left: trust for every TCP login and no password file.
    (tmp_path / "postgres" / "pg_hba.conf").write_text("host all all 127.0.0.1/32 trust\n")
    (tmp_path / "postgres.password").unlink()
    with embedded_services(tmp_path, redis=False) as svc:
        assert asyncio.run(_postgres_login(svc, None)).startswith("refused")
        assert asyncio.run(_fetch(svc, "SELECT 1")) == 1
