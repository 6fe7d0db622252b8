-- Deploy freeze windows: deployments to the environment are refused while one covers
-- the present, unless an admin overrides it with a reason. window_spec is the JSON of the
-- window (once: two instants; weekly: two weekday times, UTC).
CREATE TABLE freeze_windows (
    id BIGSERIAL PRIMARY KEY,
    environment_id BIGINT NOT NULL REFERENCES environments(id),
    window_spec TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
