-- "Prevent progression": a release marked bad goes nowhere new until someone clears
-- the mark.
ALTER TABLE releases ADD COLUMN bad_reason TEXT;
ALTER TABLE releases ADD COLUMN bad_by TEXT;
ALTER TABLE releases ADD COLUMN bad_at BIGINT;
