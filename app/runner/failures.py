"""What a failure of an attempt is: trouble of the job's step (retried, counted), trouble of the services around
it (handed back, not counted), and the words a client reads about it."""

from __future__ import annotations

import redis.exceptions

from app.db import CONNECTION_LOST
from app.domain.errors import TransientError, without_paths
from app.media.ffmpeg import FFmpegError

# Trouble of the job's step: retried, and each one counts toward MAX_ATTEMPTS.
TRANSIENT: tuple[type[BaseException], ...] = (TransientError, TimeoutError)
# Trouble of the services around the job (a dropped connection): the job is handed back, not faulted,
# so a Redis or PostgreSQL restart never uses up a healthy job's attempts.
SERVICE_DOWN: tuple[type[BaseException], ...] = (
    *CONNECTION_LOST,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


def describe(exc: BaseException) -> str:
    """A failure in words fit for a client: no server path, no raw tool output (the log has those)."""
    if isinstance(exc, FFmpegError):
        if exc.killed_by_signal:
            return f"the {exc.tool} process was killed from outside (out of memory, or stopped by an operator)"
        return f"{exc.tool} stopped with an error: {exc.reason}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    if isinstance(exc, (*CONNECTION_LOST, redis.exceptions.ConnectionError)):
        return "a connection to the job database or the checkpoint store was lost"
    if isinstance(exc, TimeoutError):
        return "an operation timed out"
    text = without_paths(str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
