-- Variables and secrets per project, for all environments ('') or one. A secret's
-- value is only ever stored encrypted (ChaCha20-Poly1305, key outside the database).
CREATE TABLE variables (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects(id),
    environment TEXT NOT NULL,
    name TEXT NOT NULL,
    -- Plain value of a variable; NULL for a secret.
    value TEXT,
    -- base64(nonce || ciphertext) of a secret; NULL for a variable.
    sealed TEXT,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    UNIQUE (project_id, environment, name)
);
