"""Stage checkpoints in Redis: what a resumed job may skip (its key is built in app/db/redis_keys.py).

A job's checkpoints are one hash. The worker holding the job writes its lease token into the
hash when it starts; every later save is a script that writes only while that token is still
the hash's, so a worker that lost its lease cannot overwrite the checkpoints of a newer attempt.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from redis.asyncio import Redis

from app.db import redis_keys

_LEASE_FIELD = "_lease"

# KEYS[1] hash; ARGV: token, field, value, ttl. Writes only while the hash belongs to `token`.
_FENCED_SAVE = """
if redis.call('HGET', KEYS[1], '_lease') == ARGV[1] then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  return 1
end
return 0
"""


def _key(job_id: str) -> str:
    return redis_keys.checkpoints(job_id)


class Checkpoints(Protocol):
    """Where the pipeline records finished work for one attempt at one job."""

    async def save_stage_data(self, job_id: str, stage: str, **data: Any) -> None:
        """Record that `stage` finished with `data` (JSON-serialisable)."""

    async def load(self, job_id: str) -> dict[str, dict[str, Any]]:
        """Every stage recorded for the job."""

    async def clear(self, job_id: str) -> None:
        """Forget the job's checkpoints."""


async def get_resume_point(store: Checkpoints, job_id: str, stages: Sequence[str]) -> dict[str, Any] | None:
    """The first of `stages` (in order) not yet done and what earlier ones left, or None for a fresh job."""
    saved = await store.load(job_id)
    if not saved:
        return None
    resume = next((s for s in stages if s not in saved), None)
    return {"resume_from_stage": resume, "completed": [s for s in stages if s in saved], "data": saved}


class RedisCheckpoints:
    """Checkpoints of jobs held under one lease token, as one Redis hash per job expiring after `ttl` s."""

    def __init__(self, redis: Redis, *, ttl: int, token: str) -> None:
        self._redis = redis
        self._ttl = ttl
        self._token = token

    async def take_over(self, job_id: str) -> None:
        """Make this token the only one whose saves the job's hash accepts (called right after a claim)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(_key(job_id), _LEASE_FIELD, self._token)
            pipe.expire(_key(job_id), self._ttl)
            await pipe.execute()

    async def save_stage_data(self, job_id: str, stage: str, **data: Any) -> None:
        """Record that `stage` finished with `data`, unless another attempt has taken the job over."""
        script = self._redis.register_script(_FENCED_SAVE)
        await script(keys=[_key(job_id)], args=[self._token, stage, json.dumps(data), self._ttl])

    async def load(self, job_id: str) -> dict[str, dict[str, Any]]:
        """Every stage recorded for the job."""
        raw = await self._redis.hgetall(_key(job_id))
        return {_text(k): json.loads(v) for k, v in raw.items() if _text(k) != _LEASE_FIELD}

    async def clear(self, job_id: str) -> None:
        """Forget the job's checkpoints."""
        await self._redis.delete(_key(job_id))


class MemoryCheckpoints:
    """Checkpoints held in a dict: for `smartedit process`, which has no Redis and no resume."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, dict[str, Any]]] = {}

    async def save_stage_data(self, job_id: str, stage: str, **data: Any) -> None:
        """Record that `stage` finished with `data`."""
        self._data.setdefault(job_id, {})[stage] = json.loads(json.dumps(data))

    async def load(self, job_id: str) -> dict[str, dict[str, Any]]:
        """Every stage recorded for the job."""
        return dict(self._data.get(job_id, {}))

    async def clear(self, job_id: str) -> None:
        """Forget the job's checkpoints."""
        self._data.pop(job_id, None)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
