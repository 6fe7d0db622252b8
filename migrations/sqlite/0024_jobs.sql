-- The durable job queue: work that must happen because something changed, written in
-- the same transaction as the change (so a crash between the two loses nothing) and
-- done by whichever replica claims it. A claim is a lease: a job whose claimer died
-- is claimed again once it runs out, so a job runs at least once; handlers make a
-- second run harmless (deliveries have dedupe keys).
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    -- The same work asked twice is one job.
    dedupe_key TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    run_after BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    locked_by TEXT,
    locked_until BIGINT,
    last_error TEXT,
    done_at BIGINT
);
CREATE INDEX jobs_due ON jobs (run_after) WHERE done_at IS NULL;
