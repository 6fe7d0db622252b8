-- Notification deliveries and forge reports become jobs of the durable queue. Jobs
-- with the same queue key run one at a time, oldest first: a channel's messages (one
-- waiting for its retry lets the later ones by), a project's forge reports (`in_order`:
-- a retry holds them back, so a status never overtakes the report that creates the
-- forge's deployment). A key's next jobs may be held back (Slack's pace).
ALTER TABLE jobs ADD COLUMN queue_key TEXT;
ALTER TABLE jobs ADD COLUMN in_order BIGINT NOT NULL DEFAULT 0;
CREATE INDEX jobs_by_key ON jobs (queue_key, id);
-- A key whose jobs wait until `held_until` (a receiver's pace), including jobs enqueued later.
CREATE TABLE queue_holds (
    queue_key TEXT PRIMARY KEY,
    held_until BIGINT NOT NULL
);

-- What was waiting in the two tables when this ran is queued now.
INSERT INTO jobs (kind, dedupe_key, payload, run_after, queue_key)
SELECT 'deliver_notification', 'delivery:' || id, CAST(id AS TEXT), next_attempt_at,
       'channel:' || CAST(COALESCE(channel_id, 0) AS TEXT)
FROM notify_outbox WHERE state = 'pending' ORDER BY id;
INSERT INTO jobs (kind, dedupe_key, payload, run_after, queue_key, in_order)
SELECT 'send_forge_report', 'forge_report:' || id, CAST(id AS TEXT), next_attempt_at,
       'forge:' || CAST(project_id AS TEXT), 1
FROM forge_reports WHERE state = 'pending' ORDER BY id;
