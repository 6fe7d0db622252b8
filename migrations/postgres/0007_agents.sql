-- Agents on target hosts, the one-time tokens they register with, and which agents
-- each environment deploys to (a label selector; empty = Ferry's built-in agent).
CREATE TABLE agents (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    -- JSON object of labels, as the agent last announced them.
    labels TEXT NOT NULL,
    -- SHA-256 of the agent's credential.
    credential_hash TEXT NOT NULL UNIQUE,
    version TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT,
    revoked_at BIGINT
);

CREATE TABLE agent_registrations (
    id BIGSERIAL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    agent_id BIGINT REFERENCES agents(id)
);

ALTER TABLE environments ADD COLUMN agent_selector TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN agent_id BIGINT;
