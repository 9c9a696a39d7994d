"""Signed webhook delivery (Standard Webhooks) from the PostgreSQL outbox, with retries and an SSRF guard."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import httpx
from standardwebhooks import Webhook as Signer

from app.db import Delivery, WebhookOutbox
from app.ops import metrics

log = logging.getLogger(__name__)

# Seconds to wait after attempt N fails: about 5 s, 30 s, 2 min, 10 min, 30 min, then hourly for a day.
RETRY_SCHEDULE: tuple[float, ...] = (5, 30, 120, 600, 1800, *([3600.0] * 23))
TIMEOUT_SECONDS = 10.0
# A lookup that stalls (a dead nameserver) must end well inside the delivery's lease, or the lease lapses
# mid-attempt and another sender posts the same delivery again.
DNS_TIMEOUT_SECONDS = 5.0
DELIVERY_LEASE_SECONDS = 60.0
SUBMIT_RESOLVE_SECONDS = 2.0  # DNS a submit may wait for before it leaves the check to delivery
_STOP_GRACE_SECONDS = TIMEOUT_SECONDS + 2  # an attempt's own timeout, plus time to record it


def key_webhook_secret(base_secret: str, key_id: str) -> str:
    """The `whsec_` secret of one API key: HMAC-SHA256(WEBHOOK_SECRET, "webhook:" + key id); the base for ''.

    Derived rather than stored, so nothing new has to be kept; a key that knows its own secret learns
    nothing about another key's, and cannot forge its webhooks.
    """
    if not key_id:  # the open API has one anonymous client: the configured secret itself, as before
        return base_secret
    raw = base64.b64decode(base_secret.removeprefix("whsec_"))
    return "whsec_" + base64.b64encode(hmac.new(raw, f"webhook:{key_id}".encode(), hashlib.sha256).digest()).decode()


class UnsafeTarget(Exception):
    """The webhook URL resolves to an address we refuse to call."""


def check_url(url: str, *, field: str = "webhook_url") -> str | None:
    """A reason the URL cannot be a target (scheme, host), or None if it may be; `field` names it in the reason."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # urlsplit parses the port lazily: a bad one would raise only when the sender connects
    except ValueError as exc:
        return f"{field} is not a valid URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return f"{field} must be an http or https URL"
    if not parts.hostname:
        return f"{field} has no host"
    if parts.username is not None or parts.password is not None:
        return f"{field} must not carry credentials"
    return None


async def check_target(
    url: str, *, allow_private: bool, timeout: float = SUBMIT_RESOLVE_SECONDS, field: str = "webhook_url"
) -> str | None:
    """At submit: check_url, then refuse a host that is, or resolves to, a private address.

    An IP literal is judged at once; a name gets `timeout` seconds of DNS, so a slow resolver cannot
    stall submits (a name it could not resolve in time is checked again at delivery, as every target is).
    """
    if reason := check_url(url, field=field):
        return reason
    if allow_private:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        return None if literal.is_global else f"{field} points to {host}, a private, loopback or link-local address"
    try:
        await asyncio.wait_for(resolve_public(host, parts.port or 443, allow_private=False), timeout)
    except UnsafeTarget as exc:
        return f"{field} is refused: {exc}"
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_NONAME:
            return f"{field}'s host {host!r} does not resolve"
    except TimeoutError:
        log.info("webhook host %s did not resolve within %.1f s at submit; it is checked at delivery", host, timeout)
    return None


Resolver = Callable[[str, int], Awaitable[list[str]]]  # (host, port) -> addresses


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system's resolver (getaddrinfo) gives for `host`."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def resolve_public(host: str, port: int, *, allow_private: bool, resolver: Resolver = system_resolver) -> str:
    """Resolve `host` now, within DNS_TIMEOUT_SECONDS, and return an address to connect to; refuse
    private/loopback/link-local ones."""
    try:
        async with asyncio.timeout(DNS_TIMEOUT_SECONDS):
            # getaddrinfo itself cannot be interrupted: its thread finishes in the background.
            addresses = await resolver(host, port)
    except TimeoutError:
        raise OSError(f"DNS lookup of {host} timed out after {DNS_TIMEOUT_SECONDS:.0f} s") from None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if allow_private or ip.is_global:
            return address
    raise UnsafeTarget(
        f"{host} resolves to {', '.join(addresses)}: private, loopback or link-local targets are refused"
    )


class WebhookSender:
    """Sends due deliveries; every attempt is recorded, each delivery keeps one webhook-id."""

    def __init__(
        self,
        outbox: WebhookOutbox,
        *,
        secret: str,
        allow_private: bool,
        poll_seconds: float = 1.0,
        schedule: Sequence[float] = RETRY_SCHEDULE,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.outbox = outbox
        self.resolver = resolver
        self.secret = secret
        self.allow_private = allow_private
        self.poll_seconds = poll_seconds
        self.schedule = tuple(schedule)
        self._client = httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    def start(self) -> None:
        """Begin sending in the background."""
        self._task = asyncio.create_task(self._loop(), name="webhooks")

    def wake(self) -> None:
        """Look for due deliveries now rather than at the next poll."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop claiming, let attempts in flight finish and be recorded; pending deliveries wait for the next start."""
        self._stopping.set()
        self._wake.set()
        if self._task:
            # An attempt cut off here would stay leased, unsent by anyone, for DELIVERY_LEASE_SECONDS: let it end first.
            await asyncio.wait({self._task}, timeout=_STOP_GRACE_SECONDS)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._client.aclose()

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                due = await self.outbox.claim(10, DELIVERY_LEASE_SECONDS)
                await asyncio.gather(*(self.send(d) for d in due))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("webhook loop error; retrying", exc_info=True)
                due = []
            if not due:
                self._wake.clear()
                if self._stopping.is_set():
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    async def send(self, delivery: Delivery) -> None:
        """One attempt at one delivery, recorded with its outcome."""
        attempt = delivery.attempts + 1
        body = json.dumps(delivery.payload, separators=(",", ":"))
        started = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        refused = False
        try:
            status_code = await self._post(delivery, body)
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except UnsafeTarget as exc:
            error, refused = str(exc), True
        except (ValueError, httpx.InvalidURL) as exc:  # a URL stored before check_url refused it: no retry mends it
            error, refused = f"webhook_url is not a valid URL: {exc}", True
        except (httpx.HTTPError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        elapsed_ms = (time.perf_counter() - started) * 1000
        if error is None:
            outcome, retry_in = "delivered", None
        elif refused or attempt > len(self.schedule):
            outcome, retry_in = "failed", None
        else:
            outcome, retry_in = "pending", self.schedule[attempt - 1]
        metrics.webhook_deliveries.labels("retry" if outcome == "pending" else outcome).inc()
        await self.outbox.record_attempt(
            delivery.id,
            attempt=attempt,
            status_code=status_code,
            error=error,
            duration_ms=elapsed_ms,
            outcome=outcome,
            retry_in=retry_in,
        )

    async def _post(self, delivery: Delivery, body: str) -> int:
        parts = urlsplit(delivery.url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        # Connect to the address we checked, so DNS cannot answer differently between check and connect.
        address = await resolve_public(host, port, allow_private=self.allow_private, resolver=self.resolver)
        netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        timestamp = int(time.time())
        msg_id = f"msg_{delivery.id.hex}"
        signer = Signer(key_webhook_secret(self.secret, delivery.client_id))
        signature = signer.sign(msg_id, datetime.fromtimestamp(timestamp, UTC), body)
        headers = {
            "content-type": "application/json",
            "host": parts.netloc.rsplit("@", 1)[-1],
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
            "user-agent": "SmartVideoEditor-Webhooks/1",
        }
        response = await self._client.post(pinned, content=body, headers=headers, extensions={"sni_hostname": host})
        return response.status_code
