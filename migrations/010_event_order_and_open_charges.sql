-- Stage events numbered in commit order, so a reader of `seq > last` (the SSE stream) never skips one.
-- job_events.id comes from a sequence at insert: two attempts' writes (or clips rendered in parallel) can
-- commit in the other order, and a stream that had read the higher id would never read the lower. `seq` is
-- taken from the job's row under its row lock, held until the insert commits: the next event of the job
-- waits for it, so a later number always commits later. A trigger assigns it, whoever inserts the event.
ALTER TABLE jobs ADD COLUMN event_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE job_events ADD COLUMN seq bigint;
-- Events already written keep the ids clients saw: a Last-Event-ID from before the upgrade still resumes.
UPDATE job_events SET seq = id;
UPDATE jobs j SET event_seq = e.last FROM (SELECT job_id, max(seq) AS last FROM job_events GROUP BY job_id) e
WHERE j.id = e.job_id;
ALTER TABLE job_events ALTER COLUMN seq SET NOT NULL;
CREATE UNIQUE INDEX job_events_seq_idx ON job_events (job_id, seq);
DROP INDEX job_events_job_idx;

CREATE FUNCTION smartedit_job_event_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE jobs SET event_seq = event_seq + 1 WHERE id = NEW.job_id RETURNING event_seq INTO NEW.seq;
    RETURN NEW;
END $$;

CREATE TRIGGER job_events_seq BEFORE INSERT ON job_events FOR EACH ROW EXECUTE FUNCTION smartedit_job_event_seq();

-- The charges still open (reserved, not settled), which the housekeeping reads every poll interval: a call
-- whose job stopped running will never be settled and is counted at its reservation (db/ledger.py).
CREATE INDEX ai_ledger_open_idx ON ai_ledger (job_id) WHERE cost_usd IS NULL;
