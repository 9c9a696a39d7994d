-- A job based on another (`based_on`) records `reuse` on its analyze stage when it framed and snapped its clips
-- with that job's analysis instead of decoding the source again.
ALTER TABLE job_events DROP CONSTRAINT job_events_event_check;
ALTER TABLE job_events ADD CONSTRAINT job_events_event_check CHECK (event IN ('start', 'end', 'skip', 'reuse'));
