-- Where a project's releases are built: empty on Ferry's own built-in agent, or on an
-- online agent whose labels match this selector (`role=builder`). Set by admins.
ALTER TABLE projects ADD COLUMN build_selector TEXT NOT NULL DEFAULT '';
