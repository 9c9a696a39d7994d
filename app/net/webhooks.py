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
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
from standardwebhooks import Webhook as Signer

from app.db import Delivery, WebhookOutbox
from app.db.outbox import target_of
from app.net.guard import Resolver, UnsafeTarget, host_and_port, pinned, resolve_public, system_resolver, tls_context
from app.ops import metrics
from app.ops.outages import log_trouble

log = logging.getLogger(__name__)

# Seconds to wait after attempt N fails: about 5 s, 30 s, 2 min, 10 min, 30 min, then hourly for a day.
RETRY_SCHEDULE: tuple[float, ...] = (5, 30, 120, 600, 1800, *([3600.0] * 23))
# One attempt, all of it: DNS (at most DNS_TIMEOUT_SECONDS), connect, send, and the answer. Per-read timeouts
# alone let a receiver that drips its answer hold an attempt past its lease, and then it is sent twice.
ATTEMPT_SECONDS = 20.0
RECORD_SECONDS = 5.0  # what recording an attempt may take after its deadline, still inside the lease
DELIVERY_LEASE_SECONDS = 60.0
EXCERPT_BYTES = 2048  # of a receiver's answer body, kept with the attempt; the rest is never read
CONCURRENCY = 16  # attempts in flight per sender ...
PER_TARGET = 4  # ... of which to one host[:port]: a slow receiver takes a few slots, never all of them


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
    """Sends due deliveries, each attempt on its own within a deadline; every attempt is recorded, each delivery
    keeps one webhook-id.

    `poll_seconds`: how often to look for due deliveries unwoken; `schedule`: the waits between attempts;
    `resolver`: DNS for the SSRF guard; `attempt_seconds`: one attempt's deadline, which with RECORD_SECONDS
    must fit in `lease_seconds`, how long a claimed delivery is this sender's alone; `concurrency`: attempts in
    flight; `per_target`: of those, to one host[:port].
    """

    def __init__(
        self,
        outbox: WebhookOutbox,
        *,
        secret: str,
        allow_private: bool,
        poll_seconds: float = 1.0,
        schedule: Sequence[float] = RETRY_SCHEDULE,
        resolver: Resolver = system_resolver,
        attempt_seconds: float = ATTEMPT_SECONDS,
        lease_seconds: float = DELIVERY_LEASE_SECONDS,
        concurrency: int = CONCURRENCY,
        per_target: int = PER_TARGET,
    ) -> None:
        if attempt_seconds + RECORD_SECONDS >= lease_seconds:
            raise ValueError(f"an attempt ({attempt_seconds} s) and its record must end inside the lease")
        self.outbox = outbox
        self.resolver = resolver
        self.secret = secret
        self.allow_private = allow_private
        self.poll_seconds = poll_seconds
        self.schedule = tuple(schedule)
        self.attempt_seconds = attempt_seconds
        self.lease_seconds = lease_seconds
        self.concurrency = concurrency
        self.per_target = per_target
        self._client = httpx.AsyncClient(timeout=attempt_seconds, follow_redirects=False, verify=tls_context())
        self._task: asyncio.Task[None] | None = None
        self._attempts: set[asyncio.Task[None]] = set()
        self._load: Counter[str] = Counter()  # attempts in flight per target
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
        # An attempt cut off here would stay leased, unsent by anyone, until its lease ends: let each end first.
        grace = self.attempt_seconds + RECORD_SECONDS
        await _let_end({self._task} if self._task else set(), grace)  # the loop launches what it has claimed
        await _let_end(set(self._attempts), grace)
        await self._client.aclose()

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            free = self.concurrency - len(self._attempts)
            due: Sequence[Delivery] = []
            if free > 0:
                try:
                    busy = [target for target, n in self._load.items() if n >= self.per_target]
                    due = await self.outbox.claim(free, self.lease_seconds, busy=busy)
                    await self._launch(due)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log_trouble(log, "webhook loop error; retrying")
            if free > 0 and len(due) == free:
                continue  # a full claim: more may be due
            if self._stopping.is_set():
                return
            with contextlib.suppress(TimeoutError):  # woken early when an attempt ends and frees a slot
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    async def _launch(self, due: Sequence[Delivery]) -> None:
        """Start an attempt at each delivery; hand back those past their target's share of attempts."""
        over: list[uuid.UUID] = []
        for delivery in due:
            target = target_of(delivery.url)
            if self._load[target] >= self.per_target:
                over.append(delivery.id)
                continue
            self._load[target] += 1
            task = asyncio.create_task(self._attempt(delivery, target), name=f"webhook {delivery.id}")
            self._attempts.add(task)
            task.add_done_callback(self._ended)
        if over:
            await self.outbox.release(over)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._attempts.discard(task)
        self._wake.set()

    async def _attempt(self, delivery: Delivery, target: str) -> None:
        try:
            await self.send(delivery)
        except Exception:
            log_trouble(log, "attempt at webhook %s not recorded: it is sent again", delivery.id)
        finally:
            self._load[target] -= 1
            if not self._load[target]:
                del self._load[target]

    async def send(self, delivery: Delivery) -> None:
        """One attempt at one delivery, ended by its deadline, recorded with its outcome."""
        attempt = delivery.attempts + 1
        started = time.perf_counter()
        answer: Answer | None = None
        error: str | None = None
        refused = False
        try:
            answer = await self._post(delivery)
            if not 200 <= answer.status_code < 300:
                error = f"HTTP {answer.status_code}"
        except UnsafeTarget as exc:
            error, refused = str(exc), True
        except (ValueError, httpx.InvalidURL) as exc:  # a URL stored before check_url refused it: no retry mends it
            error, refused = f"webhook_url is not a valid URL: {exc}", True
        except TimeoutError:  # before OSError, of which it is one
            error = f"no answer within the attempt's deadline of {self.attempt_seconds:g} s"
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
            status_code=answer.status_code if answer else None,
            error=error,
            duration_ms=elapsed_ms,
            outcome=outcome,
            retry_in=retry_in,
            response_excerpt=answer.excerpt if answer else None,
        )

    async def _post(self, delivery: Delivery) -> Answer:
        deadline = asyncio.get_running_loop().time() + self.attempt_seconds
        async with asyncio.timeout_at(deadline):
            request = await self._request(delivery)
            response = await self._client.send(request, stream=True)
        try:
            return Answer(response.status_code, await _excerpt(response, deadline))
        finally:
            await response.aclose()  # unread, the rest of the body is dropped with the connection

    async def _request(self, delivery: Delivery) -> httpx.Request:
        """The signed POST, to the address the guard checked."""
        parts = urlsplit(delivery.url)
        host, port = host_and_port(parts)
        address = await resolve_public(host, port, allow_private=self.allow_private, resolver=self.resolver)
        body = json.dumps(delivery.payload, separators=(",", ":"))
        timestamp = int(time.time())
        signer = Signer(key_webhook_secret(self.secret, delivery.client_id))
        signature = signer.sign(delivery.webhook_id, datetime.fromtimestamp(timestamp, UTC), body)
        headers = {
            "content-type": "application/json",
            "accept-encoding": "identity",  # the excerpt is read as sent: no decompressing what a receiver sends
            "host": parts.netloc.rsplit("@", 1)[-1],
            "webhook-id": delivery.webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
            "user-agent": "SmartVideoEditor-Webhooks/1",
        }
        return self._client.build_request(
            "POST", pinned(parts, address, port), content=body, headers=headers, extensions={"sni_hostname": host}
        )


async def _let_end(tasks: set[asyncio.Task[None]], seconds: float) -> None:
    """Wait up to `seconds` for `tasks` to end, then cancel those left."""
    if not tasks:
        return
    _, left = await asyncio.wait(tasks, timeout=seconds)
    for task in left:
        task.cancel()
    await asyncio.gather(*left, return_exceptions=True)


@dataclass(frozen=True)
class Answer:
    """A receiver's answer: its status, and the start of its body (None if empty)."""

    status_code: int
    excerpt: str | None


async def _excerpt(response: httpx.Response, deadline: float) -> str | None:
    # The status is the answer: a body cut short by the deadline, or by the receiver, still leaves it one.
    body = bytearray()
    with contextlib.suppress(TimeoutError, httpx.HTTPError):
        async with asyncio.timeout_at(deadline):
            async for chunk in response.aiter_raw():
                body += chunk
                if len(body) >= EXCERPT_BYTES:
                    break
    text = body[:EXCERPT_BYTES].decode("utf-8", "replace").replace("\x00", "")
    return text or None
