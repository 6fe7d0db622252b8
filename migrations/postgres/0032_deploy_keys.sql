-- Key pairs Ferry made to read a repository over SSH (a deploy key on the forge). The
-- private half is sealed by the vault. A key belongs to the project imported with it,
-- with the repository host's key as first seen (known_hosts lines), pinned from then on.
CREATE TABLE deploy_keys (
    id BIGSERIAL PRIMARY KEY,
    public_key TEXT NOT NULL,
    sealed_private TEXT NOT NULL,
    project_id BIGINT REFERENCES projects(id),
    known_hosts TEXT,
    created_at BIGINT NOT NULL
);
