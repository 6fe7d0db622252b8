-- A project imported from a forge or a git URL: Ferry keeps its repository as a mirror
-- of its own (`repo_url`, under the data directory) and fetches it from here.
ALTER TABLE projects ADD COLUMN repo_origin TEXT;
