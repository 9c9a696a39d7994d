-- Uploaded sources: each belongs to the API key that sent it, and expires unless a job uses it.
CREATE TABLE uploads (
    id          uuid PRIMARY KEY,
    client_id   text NOT NULL,
    size        bigint NOT NULL,
    sha256      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX uploads_unused_expiry_idx ON uploads (expires_at) WHERE used_at IS NULL;
