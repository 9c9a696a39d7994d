"""Every Redis key of the service is built here, so this one file shows the whole keyspace."""

from __future__ import annotations

_PREFIX = "smartedit"


def checkpoints(job_id: str) -> str:
    """The hash of a job's stage checkpoints (and the lease token that may write them)."""
    return f"{_PREFIX}:job:{job_id}:checkpoints"


def rate_window(key_id: str, window: int) -> str:
    """The request counter of one API key in one rate-limit window (minutes since the epoch)."""
    return f"{_PREFIX}:rate:{key_id or 'open'}:{window}"
