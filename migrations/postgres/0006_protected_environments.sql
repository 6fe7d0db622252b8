-- Protected environments: who may deploy, how many approvals a deployment needs, and
-- how long it waits after the last one. Kept in Ferry, not in the repository, so that
-- a commit cannot lift the protection.
ALTER TABLE environments ADD COLUMN deploy_role TEXT NOT NULL DEFAULT 'deployer';
ALTER TABLE environments ADD COLUMN required_approvals BIGINT NOT NULL DEFAULT 0;
ALTER TABLE environments ADD COLUMN wait_minutes BIGINT NOT NULL DEFAULT 0;

ALTER TABLE deployments ADD COLUMN requested_by_id BIGINT;
-- An approved deployment does not start before this time (the wait timer).
ALTER TABLE deployments ADD COLUMN not_before BIGINT;

CREATE TABLE approvals (
    id BIGSERIAL PRIMARY KEY,
    deployment_id BIGINT NOT NULL REFERENCES deployments(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    login TEXT NOT NULL,
    -- 'approved' or 'rejected'
    decision TEXT NOT NULL,
    comment TEXT,
    at BIGINT NOT NULL,
    UNIQUE (deployment_id, user_id)
);
