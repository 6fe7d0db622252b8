//! The hosts of a deployment and their per-host steps. When a deployment picks its
//! hosts, its planned steps are replaced, in one transaction, by each host's own steps
//! (numbered on after the previous host's), so every step and log line still has one
//! position within the deployment.

use ferry_app::model::{StepState, StepView, TargetKind, TargetState, TargetView};

use super::rows::TargetRow;
use super::{now_millis, Store, StoreResult};

const COLUMNS: &str =
    "id, deployment_id, position, name, agent_id, ssh_host_id, batch, state, before_release_id, moved, reason, \
                       started_at, finished_at";

/// One host a deployment is about to run on, with its batch and its steps.
pub struct TargetPlan {
    pub name: String,
    pub kind: TargetKind,
    pub batch: i32,
    pub steps: Vec<String>,
}

/// A host as a deployment that carries on elsewhere finds it (`save_host_plans`).
#[derive(Debug, Clone)]
pub struct ResumableTarget {
    /// Its row id: the job number its agent knows it by.
    pub job: i64,
    pub view: TargetView,
    /// The plan it runs, sealed; `None` when the deployment stopped before its hosts
    /// had their plans (while building).
    pub sealed_plan: Option<String>,
    pub first_step: Option<i64>,
}

/// What the recorder has kept of one step: its state and how many log lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedStep {
    pub position: i32,
    pub state: StepState,
    pub lines: i64,
}

/// How a host's part ended.
pub struct TargetEnd<'a> {
    pub state: TargetState,
    pub before_release_id: Option<i64>,
    pub moved: bool,
    pub reason: Option<&'a str>,
}

impl Store {
    /// Sets a deployment's hosts (pending) and their steps (queued), replacing any it
    /// had. Returns the hosts with their row ids (the agents' job numbers) and the steps.
    pub async fn assign_targets(
        &self,
        deployment_id: i64,
        build_steps: &[String],
        hosts: &[TargetPlan],
    ) -> StoreResult<(Vec<(i64, TargetView)>, Vec<StepView>)> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM steps WHERE deployment_id = $1").bind(deployment_id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM deployment_targets WHERE deployment_id = $1")
            .bind(deployment_id)
            .execute(&mut *tx)
            .await?;
        // The release's build (on the build agent, no host of the deployment) comes first.
        let mut position = 0i64;
        for name in build_steps {
            sqlx::query("INSERT INTO steps (deployment_id, position, name, state) VALUES ($1, $2, $3, $4)")
                .bind(deployment_id)
                .bind(position)
                .bind(name)
                .bind(StepState::Queued.as_str())
                .execute(&mut *tx)
                .await?;
            position += 1;
        }
        for (target, host) in hosts.iter().enumerate() {
            sqlx::query(
                "INSERT INTO deployment_targets (deployment_id, position, name, agent_id, ssh_host_id, batch, state) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(deployment_id)
            .bind(target as i64)
            .bind(&host.name)
            .bind(host.kind.agent_id())
            .bind(host.kind.ssh_host_id())
            .bind(host.batch as i64)
            .bind(TargetState::Pending.as_str())
            .execute(&mut *tx)
            .await?;
            for name in &host.steps {
                sqlx::query(
                    "INSERT INTO steps (deployment_id, position, name, state, target) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(deployment_id)
                .bind(position)
                .bind(name)
                .bind(StepState::Queued.as_str())
                .bind(target as i64)
                .execute(&mut *tx)
                .await?;
                position += 1;
            }
        }
        tx.commit().await?;
        let targets = self.target_rows(deployment_id).await?.into_iter().map(|r| (r.id, r.view())).collect();
        Ok((targets, self.steps(deployment_id).await?))
    }

    /// Hosts chosen before the deployment runs (a rollback of the hosts a failed
    /// rollout switched), or none.
    pub async fn preassign_targets(&self, deployment_id: i64, hosts: &[(String, TargetKind)]) -> StoreResult<()> {
        let plans: Vec<TargetPlan> = hosts
            .iter()
            .map(|(name, kind)| TargetPlan { name: name.clone(), kind: *kind, batch: 0, steps: Vec::new() })
            .collect();
        let mut tx = self.pool.begin().await?;
        for (position, host) in plans.iter().enumerate() {
            sqlx::query(
                "INSERT INTO deployment_targets (deployment_id, position, name, agent_id, ssh_host_id, batch, state) \
                 VALUES ($1, $2, $3, $4, $5, 0, $6)",
            )
            .bind(deployment_id)
            .bind(position as i64)
            .bind(&host.name)
            .bind(host.kind.agent_id())
            .bind(host.kind.ssh_host_id())
            .bind(TargetState::Pending.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// Keeps each host's plan (sealed) and the position of its first step, once they
    /// are final (after the build): what a replica that carries the deployment on needs.
    pub async fn save_host_plans(&self, deployment_id: i64, plans: &[(i32, String, i64)]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for (position, sealed, first_step) in plans {
            sqlx::query(
                "UPDATE deployment_targets SET plan = $1, first_step = $2 WHERE deployment_id = $3 AND position = $4",
            )
            .bind(sealed)
            .bind(first_step)
            .bind(deployment_id)
            .bind(*position as i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// The hosts with what it takes to carry their rollout on.
    pub async fn resumable_hosts(&self, deployment_id: i64) -> StoreResult<Vec<ResumableTarget>> {
        let rows = self.target_rows(deployment_id).await?;
        let plans: Vec<(i64, Option<String>, Option<i64>)> =
            sqlx::query_as("SELECT position, plan, first_step FROM deployment_targets WHERE deployment_id = $1")
                .bind(deployment_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let saved = plans.iter().find(|(position, ..)| *position == row.position);
                let (sealed_plan, first_step) = saved.map(|(_, p, f)| (p.clone(), *f)).unwrap_or_default();
                ResumableTarget { job: row.id, view: row.view(), sealed_plan, first_step }
            })
            .collect())
    }

    /// Every step of a deployment with its state and the number of its log lines kept.
    pub async fn recorded_steps(&self, deployment_id: i64) -> StoreResult<Vec<RecordedStep>> {
        let rows: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT s.position, s.state, \
               (SELECT COUNT(*) FROM log_lines l WHERE l.deployment_id = s.deployment_id AND l.step = s.position) \
             FROM steps s WHERE s.deployment_id = $1 ORDER BY s.position",
        )
        .bind(deployment_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(position, state, lines)| RecordedStep {
                position: position as i32,
                state: StepState::parse(&state).unwrap_or(StepState::Queued),
                lines,
            })
            .collect())
    }

    /// The number after a deployment's last log line (1 for none).
    pub async fn next_log_seq(&self, deployment_id: i64) -> StoreResult<i64> {
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM log_lines WHERE deployment_id = $1")
            .bind(deployment_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(last.unwrap_or(0) + 1)
    }

    pub async fn targets(&self, deployment_id: i64) -> StoreResult<Vec<TargetView>> {
        Ok(self.target_rows(deployment_id).await?.into_iter().map(TargetRow::view).collect())
    }

    async fn target_rows(&self, deployment_id: i64) -> StoreResult<Vec<TargetRow>> {
        let sql = format!("SELECT {COLUMNS} FROM deployment_targets WHERE deployment_id = $1 ORDER BY position");
        sqlx::query_as(&sql).bind(deployment_id).fetch_all(&self.pool).await
    }

    pub async fn target_started(&self, deployment_id: i64, position: i32) -> StoreResult<Option<TargetView>> {
        sqlx::query(
            "UPDATE deployment_targets SET state = $1, started_at = $2 WHERE deployment_id = $3 AND position = $4",
        )
        .bind(TargetState::Running.as_str())
        .bind(now_millis())
        .bind(deployment_id)
        .bind(position as i64)
        .execute(&self.pool)
        .await?;
        self.target(deployment_id, position).await
    }

    pub async fn target_finished(
        &self,
        deployment_id: i64,
        position: i32,
        end: &TargetEnd<'_>,
    ) -> StoreResult<Option<TargetView>> {
        sqlx::query(
            "UPDATE deployment_targets SET state = $1, finished_at = $2, before_release_id = $3, moved = $4, \
             reason = $5 WHERE deployment_id = $6 AND position = $7",
        )
        .bind(end.state.as_str())
        .bind(now_millis())
        .bind(end.before_release_id)
        .bind(end.moved as i64)
        .bind(end.reason)
        .bind(deployment_id)
        .bind(position as i64)
        .execute(&self.pool)
        .await?;
        self.target(deployment_id, position).await
    }

    /// Moves a host from one of `from` to `to` (pending → skipped when an earlier batch
    /// failed; succeeded or failed → rolled back); `None` when it was in none of them.
    pub async fn set_target_state(
        &self,
        deployment_id: i64,
        position: i32,
        from: &[TargetState],
        to: TargetState,
    ) -> StoreResult<Option<TargetView>> {
        let Some(current) = self.target(deployment_id, position).await? else { return Ok(None) };
        if !from.contains(&current.state) {
            return Ok(None);
        }
        // Conditional on the state just read, so a concurrent change wins and is not overwritten.
        let done = sqlx::query(
            "UPDATE deployment_targets SET state = $1 WHERE deployment_id = $2 AND position = $3 AND state = $4",
        )
        .bind(to.as_str())
        .bind(deployment_id)
        .bind(position as i64)
        .bind(current.state.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.target(deployment_id, position).await
    }

    /// Closes the hosts of a deployment that will not continue: running ones fail,
    /// pending ones are skipped. Returns the hosts that changed.
    pub async fn close_open_targets(&self, deployment_id: i64) -> StoreResult<Vec<TargetView>> {
        let mut changed = Vec::new();
        for target in self.targets(deployment_id).await? {
            let to = match target.state {
                TargetState::Running => TargetState::Failed,
                TargetState::Pending => TargetState::Skipped,
                _ => continue,
            };
            changed.extend(self.set_target_state(deployment_id, target.position, &[target.state], to).await?);
        }
        Ok(changed)
    }

    async fn target(&self, deployment_id: i64, position: i32) -> StoreResult<Option<TargetView>> {
        let sql = format!("SELECT {COLUMNS} FROM deployment_targets WHERE deployment_id = $1 AND position = $2");
        let row: Option<TargetRow> =
            sqlx::query_as(&sql).bind(deployment_id).bind(position as i64).fetch_optional(&self.pool).await?;
        Ok(row.map(TargetRow::view))
    }
}
