-- Retry-safe writes, faults apart from hand-backs, a registry of workers, and a claim that reads one index.

-- Only claims that ended in a fault (a failed step, a crash, a stalled worker) count toward MAX_ATTEMPTS;
-- `attempts` still counts every claim.
ALTER TABLE jobs ADD COLUMN faults integer NOT NULL DEFAULT 0;
-- The lease token of the attempt that wrote the final status: a finish retried after a lost connection
-- recognises its own earlier write by it.
ALTER TABLE jobs ADD COLUMN finished_by uuid;
-- A claim retried after a lost connection finds the job its first try took by the token it carried.
CREATE INDEX jobs_lease_token_idx ON jobs (lease_token) WHERE lease_token IS NOT NULL;

-- A retried event insert must not write the event twice: one row per stage event of an attempt.
DELETE FROM job_events a USING job_events b
WHERE a.job_id = b.job_id AND a.attempt = b.attempt AND a.stage = b.stage AND a.event = b.event AND a.id > b.id;
CREATE UNIQUE INDEX job_events_once_idx ON job_events (job_id, attempt, stage, event);

-- Workers say who they are, so liveness is judged by identity rather than by a host name and a pid:
-- a pid means something only in the same PID namespace of the same boot, and only for a process
-- started when the registration says.
CREATE TABLE workers (
    id            text PRIMARY KEY,            -- the lease_owner the worker writes on the jobs it holds
    host          text NOT NULL,
    pid           integer NOT NULL,
    boot_id       text NOT NULL,               -- /proc/sys/kernel/random/boot_id
    pid_namespace text NOT NULL,               -- /proc/self/ns/pid, e.g. pid:[4026531836]
    started_at    double precision NOT NULL,   -- the process's start time (epoch seconds), against pid reuse
    registered_at timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workers_heartbeat_idx ON workers (heartbeat_at);
