"""What routes depend on: the services held by the app, and the caller's identity."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.api.problems import Problem
from app.api.ratelimit import seconds_until_allowed
from app.domain.jobs import Owner
from app.service.wiring import Services

# Security schemes, not header parameters: generated SDKs then take the key once, not on every call.
_bearer = HTTPBearer(auto_error=False, scheme_name="bearer", description="Authorization: Bearer <API key>")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKey", description="the API key")


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
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
    x_api_key: Annotated[str | None, Depends(_api_key)] = None,
) -> Owner:
    """The caller: its key's id and whether it is an admin key ('' when no API key is configured)."""
    settings = services.settings
    if settings.open_api:
        owner = Owner("")
    else:
        given = (x_api_key or (bearer.credentials if bearer else "")).strip().encode("utf-8", "replace")
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
