-- An agent's name and labels are who the administrator said it is: a registration
-- token carries them, and the agent cannot change them by presenting others when it
-- connects (labels route plans and secrets). `problem` says why the agent's last
-- connection was refused, for the Agents page.
ALTER TABLE agent_registrations ADD COLUMN name TEXT;
ALTER TABLE agent_registrations ADD COLUMN labels TEXT;
ALTER TABLE agents ADD COLUMN problem TEXT;
ALTER TABLE agents ADD COLUMN problem_at BIGINT;
