-- Agents connected to other replicas. Each replica says which agents it holds a
-- connection to (renewed while it does); a deployment on one replica reaches an agent
-- connected to another through a job written here, which the agent's replica sends on,
-- writing back what the agent reports.
ALTER TABLE agents ADD COLUMN connected_to TEXT;
ALTER TABLE agents ADD COLUMN connected_until BIGINT NOT NULL DEFAULT 0;

CREATE TABLE agent_jobs (
    job BIGINT PRIMARY KEY,
    agent_id BIGINT NOT NULL,
    -- The `ServerMessage::Run` to send, as JSON.
    run TEXT NOT NULL,
    relayed_by TEXT,
    relayed_until BIGINT NOT NULL DEFAULT 0,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE agent_job_reports (
    job BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    -- A `JobReport`, as JSON.
    report TEXT NOT NULL,
    PRIMARY KEY (job, seq)
);
