-- Notification channels, the rules routing deployment events to them, and the outbox
-- of their deliveries. A channel's settings (webhook URLs, SMTP passwords, signing
-- secrets) are sealed by the vault; summary is what may be shown.
CREATE TABLE notify_channels (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    sealed_settings TEXT NOT NULL,
    summary TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- project_id and environment NULL match any; events is a comma-separated list.
CREATE TABLE notify_rules (
    id BIGSERIAL PRIMARY KEY,
    channel_id BIGINT NOT NULL REFERENCES notify_channels(id) ON DELETE CASCADE,
    project_id BIGINT REFERENCES projects(id) ON DELETE CASCADE,
    environment TEXT,
    events TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- One message to one channel, or (channel_id NULL) to one person's own address,
-- recipient, through the server's configured mail server. dedupe_key makes enqueueing
-- the same event twice (a recovery replaying a transition) a no-op. notice is the
-- event's JSON, rendered per channel when sent.
CREATE TABLE notify_outbox (
    id BIGSERIAL PRIMARY KEY,
    channel_id BIGINT REFERENCES notify_channels(id) ON DELETE CASCADE,
    recipient TEXT,
    dedupe_key TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    title TEXT NOT NULL,
    notice TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX notify_outbox_due ON notify_outbox (state, next_attempt_at);
