"""Signed webhook delivery (Standard Webhooks) from the PostgreSQL outbox, with retries, through the SSRF guard."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import httpx
from standardwebhooks import Webhook as Signer

from app.db import Delivery, WebhookOutbox
from app.net.guard import Resolver, UnsafeTarget, resolve_public, system_resolver
from app.ops import metrics

log = logging.getLogger(__name__)

# Seconds to wait after attempt N fails: about 5 s, 30 s, 2 min, 10 min, 30 min, then hourly for a day.
RETRY_SCHEDULE: tuple[float, ...] = (5, 30, 120, 600, 1800, *([3600.0] * 23))
TIMEOUT_SECONDS = 10.0
DELIVERY_LEASE_SECONDS = 60.0
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
