-- When the release's commit was made (Unix milliseconds), for lead time in the DORA
-- metrics. Releases cut before this column existed have none.
ALTER TABLE releases ADD COLUMN committed_at BIGINT;
