"""The state of jobs: every SQL statement of the service, and the Redis keys and checkpoints.

`pool` opens connections and applies migrations; `jobs` holds what clients ask of jobs (JobStore), on top of
`leases`, what a worker does under a job's lease; `outbox` the webhook deliveries (WebhookOutbox); `workers`
the worker registry and lease recovery; `uploads`, `retention`, `ledger` and `transcripts` their tables.
`checkpoint` keeps each stage's output in Redis (under `redis_keys`), so a resumed job skips finished stages.
"""

from app.db.jobs import CANCEL_CHANNEL, FEED_CHANNEL, JOBS_CHANNEL, IdempotencyConflict, JobStore, QueueFull
from app.db.leases import Claim
from app.db.outbox import Delivery, DeliveryInFlight, Webhook, WebhookFor, WebhookOutbox
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
    "DeliveryInFlight",
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
