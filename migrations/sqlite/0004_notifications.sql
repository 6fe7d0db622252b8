-- The in-app notification center: what happened that people should know about.
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    deployment_id BIGINT REFERENCES deployments(id),
    created_at BIGINT NOT NULL,
    read_at BIGINT
);
CREATE INDEX notifications_unread ON notifications (read_at, id);
