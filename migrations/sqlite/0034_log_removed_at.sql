-- When retention removed a finished deployment's log (milliseconds since the epoch),
-- so that its page says why the log is empty.
ALTER TABLE deployments ADD COLUMN log_removed_at BIGINT;
