-- Failed sign-ins counted per login and per client address over a window, so that
-- guessing passwords is throttled across every replica; a success clears a login's.
CREATE TABLE sign_in_failures (
    key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_start BIGINT NOT NULL
);
CREATE INDEX sessions_anonymous ON sessions (expires_at) WHERE user_id IS NULL;
