-- Each API key lists and counts only its own jobs: index those lookups by owner.

CREATE INDEX jobs_client_created_idx ON jobs (client_id, created_at DESC, id DESC);
CREATE INDEX jobs_client_queued_idx ON jobs (client_id) WHERE status = 'queued';
