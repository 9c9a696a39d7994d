-- AI ranking: transcripts of source ranges, reused by every job on the same source, and the cost ledger.

-- Keyed by what was heard (the source's SHA-256 and the range, in ms) and who heard it (the model).
CREATE TABLE transcripts (
    source_sha256 text NOT NULL,
    start_ms      integer NOT NULL,
    end_ms        integer NOT NULL,
    model         text NOT NULL,
    text          text NOT NULL,
    cues          jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- What people said is kept only while it is used: the retention sweep drops a transcript no job has
    -- read for JOB_RETENTION.
    used_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_sha256, start_ms, end_ms, model)
);
CREATE INDEX transcripts_used_at_idx ON transcripts (used_at);

-- One row per paid call: reserved at its worst case before the call, settled with the usage the provider
-- reported after it. An unsettled row (cost_usd NULL) counts at its reservation: the call may have been billed.
CREATE TABLE ai_ledger (
    id           bigserial PRIMARY KEY,
    job_id       text NOT NULL,
    api_name     text NOT NULL,
    operation    text NOT NULL,
    model        text NOT NULL,
    reserved_usd numeric(12, 6) NOT NULL CHECK (reserved_usd >= 0),
    cost_usd     numeric(12, 6) CHECK (cost_usd >= 0),
    units        jsonb NOT NULL DEFAULT '{}',
    reserved_at  timestamptz NOT NULL DEFAULT now(),
    settled_at   timestamptz
);
CREATE INDEX ai_ledger_job_idx ON ai_ledger (job_id);
CREATE INDEX ai_ledger_reserved_at_idx ON ai_ledger (reserved_at);
