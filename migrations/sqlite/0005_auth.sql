-- Sign-in, sessions, roles, API tokens and the audit log.
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- 'local', 'github', 'gitlab' or 'oidc:<name>'; with subject, the provider's stable id.
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    login TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT,
    -- argon2 PHC string; local accounts only.
    password_hash TEXT,
    -- The role on every project ('none', 'viewer', 'deployer', 'maintainer', 'admin');
    -- 'admin' is the global administrator.
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_login_at BIGINT,
    UNIQUE (provider, subject)
);

-- A per-project role that raises the user's global one.
CREATE TABLE memberships (
    user_id BIGINT NOT NULL REFERENCES users(id),
    project_id BIGINT NOT NULL REFERENCES projects(id),
    role TEXT NOT NULL,
    PRIMARY KEY (user_id, project_id)
);

-- Browser sessions; the key is a SHA-256 of the cookie's session id, so reading the
-- table does not give anyone a session.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id BIGINT,
    data TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    -- SHA-256 of the token; the token itself is shown once and never stored.
    token_hash TEXT NOT NULL UNIQUE,
    -- Shown in lists so people can tell their tokens apart.
    prefix TEXT NOT NULL,
    -- Comma-separated: read, deploy, manage.
    scopes TEXT NOT NULL,
    project_id BIGINT REFERENCES projects(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    actor_id BIGINT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    -- JSON: the change (before/after where it matters).
    detail TEXT NOT NULL,
    address TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);

ALTER TABLE deployments ADD COLUMN requested_by TEXT;
