-- A deployment either ships a release (fetch, build, switch, …) or rolls an
-- environment back to a release already on its targets.
ALTER TABLE deployments ADD COLUMN kind TEXT NOT NULL DEFAULT 'deploy';
