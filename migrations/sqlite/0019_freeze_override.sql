-- Why an administrator deployed during a freeze window, when one did: a deployment
-- that waited (for approvals, a wait timer or its turn) and finds its environment
-- frozen when it starts runs only with such an override.
ALTER TABLE deployments ADD COLUMN freeze_override TEXT;
