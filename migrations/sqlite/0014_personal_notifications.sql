-- Each person's own read state of the notification center (it was one shared state;
-- what was read then stays read for everyone), and what each person wants to hear of:
-- in the app, and by email to their own address. Both lists are comma-separated events.
CREATE TABLE notification_reads (
    user_id BIGINT NOT NULL REFERENCES users(id),
    notification_id BIGINT NOT NULL REFERENCES notifications(id),
    read_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, notification_id)
);
INSERT INTO notification_reads (user_id, notification_id, read_at)
    SELECT u.id, n.id, n.read_at FROM users u CROSS JOIN notifications n WHERE n.read_at IS NOT NULL;

CREATE TABLE notify_preferences (
    user_id BIGINT PRIMARY KEY REFERENCES users(id),
    in_app TEXT NOT NULL,
    email TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
