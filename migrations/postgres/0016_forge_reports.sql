-- Statuses back to the forge. A link may hold a sealed API token: with it, Ferry
-- reports each deployment to the repository (GitHub deployments and commit statuses,
-- GitLab deployments and commit statuses). A release remembers the branch or tag its
-- commit came from, which GitLab's deployments require.
ALTER TABLE forge_links ADD COLUMN sealed_token TEXT;
ALTER TABLE releases ADD COLUMN git_ref TEXT;

-- One change of one deployment to report, oldest first per project. dedupe_key makes
-- reporting the same change twice (a recovery replaying a transition) a no-op; state
-- is pending, delivered or failed.
CREATE TABLE forge_reports (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    deployment_id BIGINT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    deployment_state TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX forge_reports_pending ON forge_reports (state, project_id, id);

-- The forge's own deployment for a Ferry deployment, made by its first report. outcome
-- is active until reported: succeeded ones are marked inactive when a later one
-- succeeds in the same environment.
CREATE TABLE forge_deployments (
    deployment_id BIGINT PRIMARY KEY REFERENCES deployments(id) ON DELETE CASCADE,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    environment TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX forge_deployments_environment ON forge_deployments (project_id, environment, outcome);
