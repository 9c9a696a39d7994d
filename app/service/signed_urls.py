"""Short-lived signed URLs: what a `<video>`, `<img>`, `<track>` or `EventSource` sends instead of an API key."""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass

from app.domain.jobs import JobRefused, Owner, key_id

MAX_LIFETIME = 900  # seconds: a URL leaks into logs and histories, so it must stop working soon
DEFAULT_LIFETIME = 600


class SignedResource(enum.StrEnum):
    """What of a job a signed URL opens: exactly one of these, of exactly one job."""

    output = "output"
    thumbnail = "thumbnail"
    captions = "captions"
    events = "events"
    analysis = "analysis"
    filmstrip = "filmstrip"
    source = "source"


# Where each resource is served; `events` is the live stream, the one an EventSource opens.
PATHS: dict[SignedResource, str] = {
    SignedResource.output: "/jobs/{job_id}/output",
    SignedResource.thumbnail: "/jobs/{job_id}/thumbnail",
    SignedResource.captions: "/jobs/{job_id}/captions",
    SignedResource.events: "/jobs/{job_id}/events/stream",
    SignedResource.analysis: "/jobs/{job_id}/analysis",
    SignedResource.filmstrip: "/jobs/{job_id}/filmstrip",
    SignedResource.source: "/jobs/{job_id}/source",
}


@dataclass(frozen=True)
class UrlSigner:
    """Signs and checks URLs with HMAC-SHA256.

    `secret` is the server's signing key; `keys` maps the id of every API key configured now to whether it is an
    admin key. A signature covers the job, the resource, the expiry and the id of the key it was minted for, never
    the method or the host: a URL minted by a key that is since revoked matches no key, and is refused.
    """

    secret: bytes
    keys: dict[str, bool]

    @classmethod
    def of(cls, base_secret: str | None, api_keys: list[str], admin_api_keys: list[str]) -> UrlSigner | None:
        """The signer of a server whose secret is derived from `base_secret` (WEBHOOK_SECRET); None without one."""
        if not base_secret:
            return None
        # Its own label, so a signature is never a webhook secret (those are HMACs over "webhook:<key id>").
        secret = hmac.new(base_secret.encode(), b"signed-url:v1", hashlib.sha256).digest()
        keys = {key_id(k): False for k in api_keys} | {key_id(k): True for k in admin_api_keys}
        return cls(secret, keys or {"": False})  # the open API's one anonymous client

    def sign(self, job_id: uuid.UUID, resource: SignedResource, expires: int, owner_key: str) -> str:
        """The signature (URL-safe base64, 43 characters) of `resource` of `job_id` until `expires` (Unix s)."""
        message = f"{job_id}\n{resource.value}\n{expires}\n{owner_key}".encode()
        digest = hmac.new(self.secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def owner(self, job_id: uuid.UUID, resource: SignedResource, expires: int | None, signature: str | None) -> Owner:
        """Who minted this URL, if it is genuine, unexpired and for this job and resource; JobRefused 401 if not."""
        found: Owner | None = None
        given = (signature or "").encode("ascii", "replace")
        for key, admin in self.keys.items():  # every key is tried, whatever matched, so the time tells nothing
            if hmac.compare_digest(given, self.sign(job_id, resource, expires or 0, key).encode()):
                found = Owner(key, admin=admin)
        now = int(time.time())
        if found is None or expires is None or expires > now + MAX_LIFETIME:
            raise JobRefused(
                401,
                "signed_url_invalid",
                f"This signed URL is not one for the {resource.value} of job {job_id}, or its API key was revoked; "
                f"ask POST /jobs/{job_id}/signed-urls for a new one.",
            )
        if expires < now:
            raise JobRefused(
                401,
                "signed_url_expired",
                f"This signed URL expired {now - expires} s ago; ask POST /jobs/{job_id}/signed-urls for a new one.",
            )
        return found
