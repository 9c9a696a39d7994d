"""Real embedded PostgreSQL and Redis servers, started under DATA_DIR when none is configured.

Both listen on 127.0.0.1 and require a password generated on first start and kept in DATA_DIR
(files of mode 0600): any local user can reach a loopback port, so trust authentication or a
password-less Redis (whose CONFIG SET dir writes files anywhere the server may) would hand the
job store and its host account to every user of the machine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.ops.embedded.common import HOST, free_port, generated_password
from app.ops.embedded.postgres_server import (
    PG_SUPERUSER,
    ensure_database,
    prepare_postgres,
    start_postgres,
    stop_postgres,
)
from app.ops.embedded.redis_server import start_redis, stop_redis

__all__ = ["EmbeddedServices", "embedded_services", "ensure_database", "free_port", "generated_password"]


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
            pgdata, user = prepare_postgres(data_dir, pg_log)
            pg_port = start_postgres(pgdata, pg_log, user, pg_password)
            stack.callback(stop_postgres, pgdata, pg_log, user)
        if redis:
            state = data_dir / "redis.pid"
            proc, redis_port = start_redis(data_dir, data_dir / "redis.log", state, redis_password)
            stack.callback(state.unlink, missing_ok=True)
            stack.callback(stop_redis, proc)
        yield EmbeddedServices(
            postgres_host=HOST if postgres else None,
            postgres_port=pg_port,
            postgres_user=PG_SUPERUSER,
            postgres_password=pg_password,
            redis_host=HOST if redis else None,
            redis_port=redis_port,
            redis_password=redis_password,
        )
