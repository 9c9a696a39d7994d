"""Stage checkpoints in Redis: what a resumed job may skip. Every Redis key is built here."""

from __future__ import annotations

import json
from typing import Any, Protocol

from redis.asyncio import Redis

STAGES = ("validate", "analyze", "render", "verify")


def _key(job_id: str) -> str:
    return f"smartedit:job:{job_id}:checkpoints"


class Checkpoints(Protocol):
    """Where the pipeline records finished work; Redis in the service, memory for one-shot runs."""

    async def save_stage_data(self, job_id: str, stage: str, **data: Any) -> None:
        """Record that `stage` finished with `data` (JSON-serialisable)."""

    async def load(self, job_id: str) -> dict[str, dict[str, Any]]:
        """Every stage recorded for the job."""

    async def clear(self, job_id: str) -> None:
        """Forget the job's checkpoints."""


async def get_resume_point(store: Checkpoints, job_id: str) -> dict[str, Any] | None:
    """The first stage not yet done and what earlier stages left, or None for a fresh job."""
    saved = await store.load(job_id)
    if not saved:
        return None
    resume = next((s for s in STAGES if s not in saved), None)
    return {"resume_from_stage": resume, "completed": [s for s in STAGES if s in saved], "data": saved}


class RedisCheckpoints:
    """Checkpoints as one Redis hash per job (field = stage), expiring after `ttl` seconds."""

    def __init__(self, redis: Redis, *, ttl: int) -> None:
        self._redis = redis
        self._ttl = ttl

    async def save_stage_data(self, job_id: str, stage: str, **data: Any) -> None:
        """Record that `stage` finished with `data`; refreshes the TTL."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(_key(job_id), stage, json.dumps(data))
            pipe.expire(_key(job_id), self._ttl)
            await pipe.execute()

    async def load(self, job_id: str) -> dict[str, dict[str, Any]]:
        """Every stage recorded for the job."""
        raw = await self._redis.hgetall(_key(job_id))
        return {_text(k): json.loads(v) for k, v in raw.items()}

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
