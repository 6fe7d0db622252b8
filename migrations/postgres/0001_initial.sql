-- Ferry's first schema (PostgreSQL). Times are Unix milliseconds (UTC).
CREATE TABLE projects (
    id BIGSERIAL PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    repo_url TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE environments (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects(id),
    name TEXT NOT NULL,
    position BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE releases (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects(id),
    version TEXT NOT NULL,
    git_commit TEXT NOT NULL,
    source TEXT NOT NULL,
    -- ferry.yml as it was at git_commit: a release never changes.
    pipeline TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (project_id, version)
);

CREATE TABLE deployments (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects(id),
    environment_id BIGINT NOT NULL REFERENCES environments(id),
    release_id BIGINT NOT NULL REFERENCES releases(id),
    state TEXT NOT NULL,
    reason TEXT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);
CREATE INDEX deployments_by_environment ON deployments (environment_id, id);
CREATE INDEX deployments_by_state ON deployments (state);

CREATE TABLE steps (
    deployment_id BIGINT NOT NULL REFERENCES deployments(id),
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    exit_code BIGINT,
    PRIMARY KEY (deployment_id, position)
);

CREATE TABLE log_lines (
    deployment_id BIGINT NOT NULL REFERENCES deployments(id),
    seq BIGINT NOT NULL,
    step BIGINT NOT NULL,
    stream TEXT NOT NULL,
    text TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (deployment_id, seq)
);

-- Everything the websocket delivers, numbered, so a client can resume after a gap.
CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    payload TEXT NOT NULL,
    at BIGINT NOT NULL
);
