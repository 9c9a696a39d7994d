-- Live progress: every change a client can see (stage, progress, status, a new stage event) notifies
-- smartedit_job_feed with the job's id, whichever process wrote it, so an API process apart from the
-- workers can push Server-Sent Events. A lease renewal changes none of these and notifies nothing.
CREATE FUNCTION smartedit_job_feed_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('smartedit_job_feed', to_jsonb(NEW) ->> TG_ARGV[0]);  -- the column holding the job's id
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_feed AFTER UPDATE ON jobs FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.stage IS DISTINCT FROM NEW.stage
          OR OLD.progress IS DISTINCT FROM NEW.progress)
    EXECUTE FUNCTION smartedit_job_feed_notify('id');

CREATE TRIGGER job_events_feed AFTER INSERT ON job_events FOR EACH ROW
    EXECUTE FUNCTION smartedit_job_feed_notify('job_id');
