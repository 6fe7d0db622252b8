-- A deployment whose replica dies goes on elsewhere when its hosts are agents: each
-- host keeps the plan it runs (sealed by the vault: it carries the deployment's
-- secrets) and the deployment position of its first step, so another replica, or the
-- same one after a restart, can carry on its rollout where it stopped.
ALTER TABLE deployment_targets ADD COLUMN plan TEXT;
ALTER TABLE deployment_targets ADD COLUMN first_step BIGINT;

-- A relayed job whose last report is kept is not sent to its agent again.
ALTER TABLE agent_jobs ADD COLUMN finished BIGINT NOT NULL DEFAULT 0;
