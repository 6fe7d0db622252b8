-- A pull or merge request's preview: an environment row `pr-<number>` outside the
-- lifecycle (its position is minus the number), borrowing `from_environment_id`'s hosts
-- and variables. `vars` (JSON) and `url` are what the default branch's ferry.yml said
-- when the request opened, with its port filled in (and its `ttl`); a port is held while it is open
-- and until its teardown ends, and never by two previews.
CREATE TABLE previews (
    environment_id BIGINT PRIMARY KEY REFERENCES environments(id),
    project_id BIGINT NOT NULL REFERENCES projects(id),
    number BIGINT NOT NULL,
    from_environment_id BIGINT NOT NULL REFERENCES environments(id),
    port BIGINT,
    vars TEXT NOT NULL,
    url TEXT,
    -- Torn down after this long without a push (`previews.ttl`).
    ttl_seconds BIGINT NOT NULL,
    branch TEXT NOT NULL,
    -- Whose ferry.yml holds the previews settings.
    default_branch TEXT NOT NULL,
    head_commit TEXT NOT NULL,
    title TEXT NOT NULL,
    author TEXT NOT NULL,
    request_url TEXT NOT NULL,
    from_fork BIGINT NOT NULL,
    -- open | waiting (for a place: `max` or every port taken) | closing | closed
    state TEXT NOT NULL,
    -- The forge's id of the comment Ferry keeps on the request.
    comment_id TEXT,
    opened_at BIGINT NOT NULL,
    touched_at BIGINT NOT NULL,
    closed_at BIGINT,
    UNIQUE (project_id, number)
);
CREATE UNIQUE INDEX previews_port ON previews (port) WHERE port IS NOT NULL;
