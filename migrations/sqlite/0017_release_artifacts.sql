-- A release is built once: its artifact (a gzip'd tar of the built tree) is kept in the
-- data directory as artifacts/<sha256>.tar.gz, and every deployment of the release
-- unpacks that same artifact after checking its checksum.
ALTER TABLE releases ADD COLUMN artifact_sha256 TEXT;
