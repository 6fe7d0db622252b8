-- Hosts reached over SSH, with nothing of Ferry installed on them.

-- Ferry's own key pairs (Ed25519), the private half sealed with the secret key. The
-- newest signs in; the one before it still does, until the next rotation, so hosts
-- can be given the new public key first.
CREATE TABLE ssh_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_key TEXT NOT NULL,
    sealed_private TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- An environment's SSH hosts.
CREATE TABLE ssh_hosts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    environment_id BIGINT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    port INTEGER NOT NULL,
    login TEXT NOT NULL,
    -- Where releases go: <deploy_dir>/<project>/<environment>/releases/<id>/.
    deploy_dir TEXT NOT NULL,
    -- The host key Ferry trusts (an OpenSSH public key line); none until trusted.
    host_key TEXT,
    -- A jump host, as user@address:port, and its trusted key.
    jump TEXT,
    jump_host_key TEXT,
    -- JSON object of variables the host's steps get.
    vars TEXT NOT NULL DEFAULT '{}',
    -- A private key of the host's own, sealed; Ferry's key pair when none.
    sealed_private_key TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (environment_id, name)
);

-- Where a deployment's host runs: the built-in agent (neither set), an agent, or an
-- SSH host.
ALTER TABLE deployment_targets ADD COLUMN ssh_host_id BIGINT;
