"""PostgreSQL: every SQL statement of the service lives in this package.

`pool` opens connections and applies migrations, `jobs` holds the job queries (JobStore), `outbox`
the webhook deliveries (WebhookOutbox), and `workers` the worker registry and lease recovery.
"""

from app.db.jobs import CANCEL_CHANNEL, FEED_CHANNEL, JOBS_CHANNEL, Claim, IdempotencyConflict, JobStore, QueueFull
from app.db.outbox import Delivery, Webhook, WebhookFor, WebhookOutbox
from app.db.pool import CONNECTION_LOST, MIGRATIONS_DIR, create_pool, migrate
from app.db.workers import Registration, WorkerRegistry

__all__ = [
    "CANCEL_CHANNEL",
    "CONNECTION_LOST",
    "FEED_CHANNEL",
    "JOBS_CHANNEL",
    "MIGRATIONS_DIR",
    "Claim",
    "Delivery",
    "IdempotencyConflict",
    "JobStore",
    "QueueFull",
    "Registration",
    "Webhook",
    "WebhookFor",
    "WebhookOutbox",
    "WorkerRegistry",
    "create_pool",
    "migrate",
]
