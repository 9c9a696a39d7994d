"""What a service that is down looks like to its client, and how the log tells of it.

One list: the database's retry decorator, the runner's classification (hand back, not a fault), the API's
503 and the log all read it. An outage is expected: a worker riding one out writes a line per trouble with
the client's own words, not a traceback, which is kept for what nobody expected.
"""

from __future__ import annotations

import logging
import sys

import asyncpg
import botocore.exceptions
import redis.exceptions

# What a PostgreSQL connection killed under us raises (pg_terminate_backend, a server restart, a network cut).
CONNECTION_LOST: tuple[type[Exception], ...] = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a connection left mid-protocol by the server closing it
    ConnectionError,  # builtin: refused or reset, in any client
)

REDIS_DOWN: tuple[type[Exception], ...] = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
STORAGE_DOWN: tuple[type[Exception], ...] = (
    botocore.exceptions.ConnectionError,  # endpoint unreachable, connect timeout
    # Connection closed, read timeout, a body's stream broken or cut short mid-way (`storage/s3.py` gives
    # aiohttp's error, which aiobotocore lets through, as botocore's ResponseStreamingError).
    botocore.exceptions.HTTPClientError,
)
# The services a job needs, not the job itself: PostgreSQL, Redis, the object store.
SERVICE_DOWN: tuple[type[Exception], ...] = (*CONNECTION_LOST, *REDIS_DOWN, *STORAGE_DOWN)


def log_trouble(logger: logging.Logger, message: str, *args: object, level: int = logging.WARNING) -> None:
    """Log the exception being handled: one line when a service is down, with a traceback otherwise."""
    exc = sys.exc_info()[1]
    if isinstance(exc, SERVICE_DOWN):
        logger.log(level, f"{message} (a service is down: %r)", *args, exc)
    else:
        logger.log(level, message, *args, exc_info=True)


class OneLineOutage(logging.Filter):
    """On a library's logger: a record of a service that is down loses its traceback for a line of its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, SERVICE_DOWN):
            record.msg, record.args = f"{record.getMessage()} (a service is down: {exc!r})", None
            record.exc_info, record.exc_text = None, None
        return True
