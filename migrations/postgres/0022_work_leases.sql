-- Work one replica at a time may do, such as draining a notification channel (one
-- message at a time, in order, at the receiver's pace) or sending a project's forge
-- reports in order: claimed with a lease that its holder renews as it goes; another
-- replica may take an expired one over.
CREATE TABLE work_leases (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
