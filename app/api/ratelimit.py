"""Requests per API key per minute, counted in Redis so that every API process shares the count."""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.db import redis_keys
from app.ops.outages import log_trouble

log = logging.getLogger(__name__)
WINDOW_SECONDS = 60


async def seconds_until_allowed(redis: Redis, key_id: str, limit: int) -> int:
    """Count one request of `key_id`; 0 when it is within `limit` this minute, else seconds to wait."""
    if limit <= 0:
        return 0
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    key = redis_keys.rate_window(key_id, window)
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, WINDOW_SECONDS * 2)
            count, _ = await pipe.execute()
    except RedisError:
        # Redis down must not take the API down with it: checkpoints already degrade the same way.
        log_trouble(log, "rate limit not counted: Redis did not answer")
        return 0
    if int(count) <= limit:
        return 0
    return max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
