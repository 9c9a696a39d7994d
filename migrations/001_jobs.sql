-- Jobs, their stage events, and the webhook outbox.

CREATE TABLE jobs (
    id               uuid PRIMARY KEY,
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    stage            text,
    progress         real NOT NULL DEFAULT 0,
    input_path       text NOT NULL,
    source_hash      text,
    spec             jsonb NOT NULL,
    result           jsonb,
    error            jsonb,
    attempts         integer NOT NULL DEFAULT 0,
    lease_token      uuid,
    lease_owner      text,
    lease_expires_at timestamptz,
    run_after        timestamptz NOT NULL DEFAULT now(),
    cancel_requested boolean NOT NULL DEFAULT false,
    client_id        text NOT NULL DEFAULT '',
    idempotency_key  text,
    request_hash     text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);

-- What a worker scans when it looks for work: queued jobs that are due, and running ones whose lease ran out.
CREATE INDEX jobs_queued_idx ON jobs (run_after, created_at) WHERE status = 'queued';
CREATE INDEX jobs_running_lease_idx ON jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX jobs_status_created_idx ON jobs (status, created_at DESC);
CREATE UNIQUE INDEX jobs_idempotency_idx ON jobs (client_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE job_events (
    id         bigserial PRIMARY KEY,
    job_id     uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt    integer NOT NULL,
    stage      text NOT NULL,
    event      text NOT NULL CHECK (event IN ('start', 'end', 'skip')),
    seconds    double precision,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_events_job_idx ON job_events (job_id, id);

CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY,
    job_id          uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    event_type      text NOT NULL,
    url             text NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_expires_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    UNIQUE (job_id, event_type)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

CREATE TABLE webhook_attempts (
    id            bigserial PRIMARY KEY,
    delivery_id   uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt       integer NOT NULL,
    status_code   integer,
    error         text,
    duration_ms   double precision NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, attempt);
