"""What routes depend on: the services held by the app, and the caller's identity."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from redis.asyncio import Redis

from app.api.problems import Problem
from app.config import Settings
from app.db import JobStore
from app.jobs import JobService, Owner
from app.ratelimit import seconds_until_allowed
from app.runner import Runner
from app.storage import Media
from app.uploads import UploadService


@dataclass
class Services:
    """Everything the app's lifespan opened; routes reach it through dependencies."""

    settings: Settings
    store: JobStore
    redis: Redis
    runner: Runner | None
    jobs: JobService
    media: Media
    uploads: UploadService


def get_services(request: Request) -> Services:
    """The services of the running app."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def key_id(key: str) -> str:
    """The id stored with a key's jobs: a short SHA-256 of the key, never the key itself."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _matches_any(given: bytes, keys: list[str]) -> bool:
    # Every configured key is compared, whatever matched first, so the time taken tells nothing.
    found = False
    for key in keys:
        found |= hmac.compare_digest(given, key.encode())
    return found


async def get_client(
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Owner:
    """The caller: its key's id and whether it is an admin key ('' when no API key is configured)."""
    settings = services.settings
    if settings.open_api:
        owner = Owner("")
    else:
        given = (x_api_key or (authorization or "").removeprefix("Bearer ")).strip().encode("utf-8", "replace")
        admin = _matches_any(given, settings.admin_api_keys)
        if not given or not (_matches_any(given, settings.api_keys) | admin):
            raise Problem(401, "unauthorized", "Send a valid API key as 'Authorization: Bearer <key>' or 'X-API-Key'.")
        owner = Owner(key_id(given.decode()), admin=admin)
    wait = await seconds_until_allowed(services.redis, owner.key_id, settings.rate_limit_per_minute)
    if wait:
        raise Problem(
            429,
            "rate_limited",
            f"More than {settings.rate_limit_per_minute} requests this minute for this API key; retry in {wait} s.",
            headers={"Retry-After": str(wait)},
        )
    return owner


ClientDep = Annotated[Owner, Depends(get_client)]
