"""What routes depend on: the services held by the app, and the caller's identity (an API key or a signed URL)."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.api.problems import Problem
from app.api.ratelimit import seconds_until_allowed
from app.config import Settings
from app.domain.jobs import Owner, key_id
from app.service.signed_urls import SignedResource
from app.service.wiring import Services

# Security schemes, not header parameters: generated SDKs then take the key once, not on every call.
_bearer = HTTPBearer(auto_error=False, scheme_name="bearer", description="Authorization: Bearer <API key>")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKey", description="the API key")


def get_services(request: Request) -> Services:
    """The services of the running app."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def _matches_any(given: bytes, keys: list[str]) -> bool:
    # Every configured key is compared, whatever matched first, so the time taken tells nothing.
    found = False
    for key in keys:
        found |= hmac.compare_digest(given, key.encode())
    return found


def _key_owner(settings: Settings, bearer: HTTPAuthorizationCredentials | None, x_api_key: str | None) -> Owner | None:
    """The caller its API key names ('' when no key is configured); None without a valid key."""
    if settings.open_api:
        return Owner("")
    given = (x_api_key or (bearer.credentials if bearer else "")).strip().encode("utf-8", "replace")
    admin = _matches_any(given, settings.admin_api_keys)
    if not given or not (_matches_any(given, settings.api_keys) | admin):
        return None
    return Owner(key_id(given.decode()), admin=admin)


async def _admitted(services: Services, owner: Owner) -> Owner:
    """`owner`, unless its key has used up this minute's requests (429)."""
    limit = services.settings.rate_limit_per_minute
    wait = await seconds_until_allowed(services.redis, owner.key_id, limit)
    if wait:
        raise Problem(
            429,
            "rate_limited",
            f"More than {limit} requests this minute for this API key; retry in {wait} s.",
            headers={"Retry-After": str(wait)},
        )
    return owner


async def get_client(
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
    x_api_key: Annotated[str | None, Depends(_api_key)] = None,
) -> Owner:
    """The caller: its key's id and whether it is an admin key ('' when no API key is configured)."""
    owner = _key_owner(services.settings, bearer, x_api_key)
    if owner is None:
        raise Problem(401, "unauthorized", "Send a valid API key as 'Authorization: Bearer <key>' or 'X-API-Key'.")
    return await _admitted(services, owner)


def signed_client(resource: SignedResource) -> Callable[..., Awaitable[Owner]]:
    """A dependency like `get_client` that also lets in a signed URL of `resource` of the path's job."""

    async def get_signed_client(
        services: ServicesDep,
        job_id: Annotated[uuid.UUID, Path(description="the job's id, as `POST /jobs` returned it")],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
        x_api_key: Annotated[str | None, Depends(_api_key)] = None,
        expires: Annotated[
            int | None, Query(ge=0, description="a signed URL's expiry (Unix seconds): use the URL as minted")
        ] = None,
        signature: Annotated[
            str | None,
            Query(max_length=128, description="a signed URL's signature, from `POST /jobs/{job_id}/signed-urls`"),
        ] = None,
    ) -> Owner:
        owner = _key_owner(services.settings, bearer, x_api_key)
        if owner is None and (expires is not None or signature is not None):
            owner = services.jobs.signed_owner(job_id, resource, expires=expires, signature=signature)
        if owner is None:
            raise Problem(
                401,
                "unauthorized",
                "Send a valid API key as 'Authorization: Bearer <key>' or 'X-API-Key', or use a signed URL.",
            )
        return await _admitted(services, owner)

    return get_signed_client


ClientDep = Annotated[Owner, Depends(get_client)]
