"""The webhook outbox: deliveries written with a job's final status, leased out for sending, and each attempt."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from app.db.pool import Conn, once_more_on_lost_connection
from app.domain.jobs import JobRow


@dataclass(frozen=True)
class Webhook:
    """A webhook to enqueue in the same transaction as the job's final status."""

    event_type: str
    url: str
    payload: dict[str, Any]


WebhookFor = Callable[[JobRow], Webhook | None]  # builds the webhook from the job's final row, if it wants one
# A delivery's target, its URL's host[:port] as written: in Python for the sender's count of attempts in flight,
# in SQL for the claim that skips busy targets; one pattern, so both read a URL alike.
_TARGET = r"://([^/?#]*)"


def target_of(url: str) -> str:
    """The host[:port] a webhook URL names, lower-cased ('' if none)."""
    found = re.search(_TARGET, url)
    return found.group(1).lower() if found else ""


def webhook_id(delivery_id: uuid.UUID) -> str:
    """The `webhook-id` of every attempt at a delivery: receivers deduplicate on it."""
    return f"msg_{delivery_id.hex}"


class DeliveryInFlight(Exception):
    """The delivery is being sent now: it cannot be queued again until that attempt is recorded."""


@dataclass(frozen=True)
class Delivery:
    """A pending webhook delivery claimed for sending."""

    id: uuid.UUID
    job_id: uuid.UUID
    event_type: str
    url: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    client_id: str  # the API key (id) the job belongs to: its webhooks are signed with that key's secret

    @property
    def webhook_id(self) -> str:
        """The `webhook-id` header of this delivery."""
        return webhook_id(self.id)


class WebhookOutbox:
    """Every query of webhook delivery."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @once_more_on_lost_connection
    async def claim(self, limit: int, lease_seconds: float, *, busy: Sequence[str] = ()) -> Sequence[Delivery]:
        """Due pending webhook deliveries, leased so that no other process sends them meanwhile; none to the
        `busy` targets (see target_of)."""
        rows = await self.pool.fetch(
            """
            WITH due AS (
                SELECT id FROM webhook_deliveries
                WHERE status = 'pending' AND next_attempt_at <= now()
                  AND (lease_expires_at IS NULL OR lease_expires_at < now())
                  AND NOT coalesce(lower(substring(url from $4)), '') = ANY($3::text[])
                ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED
            )
            UPDATE webhook_deliveries d SET lease_expires_at = now() + make_interval(secs => $2)
            FROM due WHERE d.id = due.id
            RETURNING d.id, d.job_id, d.event_type, d.url, d.payload, d.attempts, d.created_at,
                      (SELECT j.client_id FROM jobs j WHERE j.id = d.job_id) AS client_id
            """,
            limit,
            lease_seconds,
            list(busy),
            _TARGET,
        )
        return [Delivery(**dict(r)) for r in rows]

    @once_more_on_lost_connection
    async def release(self, delivery_ids: Sequence[uuid.UUID]) -> None:
        """Hand claimed deliveries back unsent: due at once to the next claim, their attempts uncounted."""
        await self.pool.execute(
            "UPDATE webhook_deliveries SET lease_expires_at = NULL WHERE id = ANY($1::uuid[])", list(delivery_ids)
        )

    async def record_attempt(
        self,
        delivery_id: uuid.UUID,
        *,
        attempt: int,
        status_code: int | None,
        error: str | None,
        duration_ms: float,
        outcome: str,
        retry_in: float | None,
        response_excerpt: str | None = None,
    ) -> None:
        """Log one attempt and move the delivery on: delivered, failed, or due again after `retry_in` s."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO webhook_attempts (delivery_id, attempt, status_code, error, duration_ms, "
                "response_excerpt) VALUES ($1, $2, $3, $4, $5, $6)",
                delivery_id,
                attempt,
                status_code,
                error,
                duration_ms,
                response_excerpt,
            )
            await conn.execute(
                "UPDATE webhook_deliveries SET attempts = $2, status = $3, lease_expires_at = NULL, "
                "next_attempt_at = now() + make_interval(secs => coalesce($4::float8, 0)), "
                "delivered_at = CASE WHEN $3 = 'delivered' THEN now() END WHERE id = $1",
                delivery_id,
                attempt,
                outcome,
                retry_in,
            )

    @once_more_on_lost_connection
    async def deliveries(self, job_id: uuid.UUID) -> list[dict[str, Any]]:
        """The job's webhook deliveries, oldest first, each with its attempts (`tries`), for inspection."""
        rows = await self.pool.fetch(
            "SELECT d.id, d.event_type, d.status, d.attempts, d.created_at, d.delivered_at, "
            "CASE WHEN d.status = 'pending' THEN d.next_attempt_at END AS next_attempt_at, "
            "coalesce(json_agg(a.* ORDER BY a.id) FILTER (WHERE a.id IS NOT NULL), '[]') AS tries "
            "FROM webhook_deliveries d LEFT JOIN webhook_attempts a ON a.delivery_id = d.id "
            "WHERE d.job_id = $1 GROUP BY d.id ORDER BY d.created_at, d.id",
            job_id,
        )
        return [
            {
                **dict(r),
                "webhook_id": webhook_id(r["id"]),
                "tries": json.loads(r["tries"]) if isinstance(r["tries"], str) else r["tries"],
            }
            for r in rows
        ]

    @once_more_on_lost_connection
    async def redeliver(self, job_id: uuid.UUID) -> uuid.UUID | None:
        """Make the job's last delivery due now, whatever its status (its webhook-id kept); None if it has none.

        Raises DeliveryInFlight while a sender holds it: the attempt under way records its own outcome.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            last = await conn.fetchrow(
                "SELECT id, coalesce(lease_expires_at > now(), false) AS in_flight FROM webhook_deliveries "
                "WHERE job_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE",
                job_id,
            )
            if last is None:
                return None
            if last["in_flight"]:
                raise DeliveryInFlight(job_id)
            await conn.execute(
                "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), delivered_at = NULL "
                "WHERE id = $1",
                last["id"],
            )
            delivery_id: uuid.UUID = last["id"]
            return delivery_id


async def enqueue_webhook(conn: Conn, job_id: uuid.UUID, hook: Webhook) -> None:
    # UNIQUE (job_id, event_type): a job announces each final event once, however often it is finished.
    await conn.execute(
        "INSERT INTO webhook_deliveries (id, job_id, event_type, url, payload) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (job_id, event_type) DO NOTHING",
        uuid.uuid4(),
        job_id,
        hook.event_type,
        hook.url,
        hook.payload,
    )
