-- A project's repository on GitHub or GitLab, with the sealed webhook secret that
-- proves a webhook comes from it; the webhook deliveries seen (a delivery is handled
-- once, however often it is sent); and the forge events that made a release (the same
-- repository, ref, commit and event make one release, whatever delivered it).
CREATE TABLE forge_links (
    project_id BIGINT PRIMARY KEY REFERENCES projects(id),
    forge TEXT NOT NULL,
    repo TEXT NOT NULL,
    sealed_secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE forge_deliveries (
    forge TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    project_id BIGINT NOT NULL,
    event TEXT NOT NULL,
    outcome TEXT,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (forge, delivery_id)
);

CREATE TABLE forge_triggers (
    trigger_key TEXT PRIMARY KEY,
    project_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
