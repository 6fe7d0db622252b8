-- Deployments using an SSH host now, across replicas: a host takes at most
-- `ssh_sessions_per_host` deployments whose turn has not run out. A turn is held by a
-- replica for one deployment, renewed with its environment leases and given back when
-- the host's part ends; a dead replica's turns run out with its leases.
CREATE TABLE ssh_host_turns (
    host_id BIGINT NOT NULL REFERENCES ssh_hosts(id) ON DELETE CASCADE,
    deployment_id BIGINT NOT NULL,
    owner TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (host_id, deployment_id)
);
CREATE INDEX ssh_host_turns_owner ON ssh_host_turns (owner);
