-- Ferry as several replicas on one database. Each replica says it is alive; the one
-- deployment that runs per environment is held by a replica with a lease it renews. A
-- lease that was not renewed in time belongs to a replica that died: another replica
-- ends that deployment and the environment's queue moves on. Queued deployments wait
-- here, in the deployments table, and whichever replica claims the lease runs them.
CREATE TABLE replicas (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL
);

CREATE TABLE environment_leases (
    environment_id BIGINT PRIMARY KEY,
    deployment_id BIGINT NOT NULL,
    owner TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- A cancel asked of a replica that does not run the deployment reaches its owner here.
ALTER TABLE deployments ADD COLUMN cancel_requested BIGINT NOT NULL DEFAULT 0;
CREATE INDEX deployments_queued ON deployments (environment_id, id) WHERE state = 'queued';
