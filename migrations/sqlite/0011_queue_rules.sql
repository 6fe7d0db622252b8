-- Whether whoever asked for a deployment confirmed that it may replace a newer release
-- (checked again when it starts, in case a newer one went live while it waited).
ALTER TABLE deployments ADD COLUMN allow_older BIGINT NOT NULL DEFAULT 0;
