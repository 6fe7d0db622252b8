-- The hosts a deployment runs on, each with its own state, its batch in the rollout
-- and the release it ran before (what a rollback goes back to); and which host each
-- step belongs to.
CREATE TABLE deployment_targets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment_id BIGINT NOT NULL REFERENCES deployments(id),
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    -- NULL for Ferry's built-in agent.
    agent_id BIGINT REFERENCES agents(id),
    batch BIGINT NOT NULL,
    state TEXT NOT NULL,
    before_release_id BIGINT,
    moved BIGINT NOT NULL DEFAULT 0,
    reason TEXT,
    started_at BIGINT,
    finished_at BIGINT,
    UNIQUE (deployment_id, position)
);

ALTER TABLE steps ADD COLUMN target BIGINT;
