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
from app.runner import Runner


@dataclass
class Services:
    """Everything the app's lifespan opened; routes reach it through dependencies."""

    settings: Settings
    store: JobStore
    redis: Redis
    runner: Runner | None


def get_services(request: Request) -> Services:
    """The services of the running app."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_client(
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> str:
    """The caller's id (a hash of its API key); '' when API_KEYS is unset and the API is open."""
    keys = services.settings.api_keys
    if not keys:
        return ""
    given = x_api_key or (authorization or "").removeprefix("Bearer ").strip()
    if not given or not any(hmac.compare_digest(given, k) for k in keys):
        raise Problem(401, "unauthorized", "Send a valid API key as 'Authorization: Bearer <key>' or 'X-API-Key'.")
    return hashlib.sha256(given.encode()).hexdigest()[:16]


ClientDep = Annotated[str, Depends(get_client)]
