-- Files left behind: a failed or cancelled job's reel, poster and captions are deleted as it ends, and each
-- API key's stored uploads are held to a quota.

-- True from the moment a job ends failed or cancelled until its files are deleted: the worker (or the cancel)
-- deletes them at once, and the retention sweep finishes what a process killed in between left. Jobs that
-- ended before this migration kept theirs: the sweep deletes them too.
ALTER TABLE jobs ADD COLUMN discard_outputs boolean NOT NULL DEFAULT false;
UPDATE jobs SET discard_outputs = true WHERE status IN ('failed', 'cancelled');
CREATE INDEX jobs_discard_outputs_idx ON jobs (id) WHERE discard_outputs;

-- An upload's row is written before its first byte is read: a reservation the key's quota counts, so two
-- uploads of one key at once cannot both pass it. Its sha256 stays NULL until the bytes are stored.
ALTER TABLE uploads ALTER COLUMN sha256 DROP NOT NULL;
CREATE INDEX uploads_client_idx ON uploads (client_id);
