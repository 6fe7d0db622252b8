-- Retention: a project's own number of days its logs and deliveries are kept (NULL:
-- the server's `retention_days`; 0: forever), and what the sweeps removed so far, for
-- /metrics.
ALTER TABLE projects ADD COLUMN retention_days BIGINT;
CREATE TABLE retention_totals (
    kind TEXT PRIMARY KEY,
    removed_rows BIGINT NOT NULL,
    freed_bytes BIGINT NOT NULL,
    last_sweep_at BIGINT NOT NULL
);
