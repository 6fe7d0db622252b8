//! Agents across replicas (migration 0025): which replica holds each agent's
//! connection, and the jobs and reports that travel between the replica running a
//! deployment and the one its agent is connected to (`agents::relay`).

use super::{Store, StoreResult};

/// A job to send on to an agent connected to this replica.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RelayedJob {
    pub job: i64,
    pub agent_id: i64,
    pub run: String,
}

impl Store {
    /// This replica holds these agents' connections until `until`.
    pub async fn hold_agents(&self, replica: &str, agent_ids: &[i64], until: i64) -> StoreResult<()> {
        for id in agent_ids {
            sqlx::query("UPDATE agents SET connected_to = $1, connected_until = $2 WHERE id = $3")
                .bind(replica)
                .bind(until)
                .bind(id)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Agents some replica holds a connection to at `now`: `(id, replica)`.
    pub async fn connected_agents(&self, now: i64) -> StoreResult<Vec<(i64, String)>> {
        sqlx::query_as(
            "SELECT id, connected_to FROM agents WHERE connected_to IS NOT NULL AND connected_until > $1 \
             AND revoked_at IS NULL",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn create_agent_job(&self, job: i64, agent_id: i64, run: &str, now: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO agent_jobs (job, agent_id, run, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (job) DO NOTHING",
        )
        .bind(job)
        .bind(agent_id)
        .bind(run)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The agents with jobs not finished yet (cheap to ask often: it writes nothing).
    pub async fn agents_with_open_jobs(&self) -> StoreResult<Vec<i64>> {
        sqlx::query_scalar("SELECT DISTINCT agent_id FROM agent_jobs WHERE finished = 0").fetch_all(&self.pool).await
    }

    /// Claims for `replica`, until `until`, the open jobs of `agent_ids` that no replica
    /// relays or whose relay's hold ran out, and renews its own holds that end before
    /// `renew_before`; returns the jobs it took or renewed.
    pub async fn claim_agent_jobs(
        &self,
        replica: &str,
        agent_ids: &[i64],
        (now, renew_before, until): (i64, i64, i64),
    ) -> StoreResult<Vec<RelayedJob>> {
        if agent_ids.is_empty() {
            return Ok(Vec::new());
        }
        // Numbers only: safe to write into the statement.
        let list = agent_ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let sql = format!(
            "UPDATE agent_jobs SET relayed_by = $1, relayed_until = $2 \
             WHERE finished = 0 AND agent_id IN ({list}) AND (relayed_by IS NULL OR relayed_until <= $3 \
               OR (relayed_by = $1 AND relayed_until < $4)) \
             RETURNING job, agent_id, run"
        );
        sqlx::query_as(&sql).bind(replica).bind(until).bind(now).bind(renew_before).fetch_all(&self.pool).await
    }

    /// The jobs `replica` relays whose cancel was asked for.
    pub async fn relayed_cancels(&self, replica: &str) -> StoreResult<Vec<i64>> {
        sqlx::query_scalar("SELECT job FROM agent_jobs WHERE relayed_by = $1 AND cancel_requested = 1 AND finished = 0")
            .bind(replica)
            .fetch_all(&self.pool)
            .await
    }

    /// Whether some replica relays the job now.
    pub async fn agent_job_relayed(&self, job: i64, now: i64) -> StoreResult<bool> {
        let until: Option<i64> = sqlx::query_scalar("SELECT relayed_until FROM agent_jobs WHERE job = $1")
            .bind(job)
            .fetch_optional(&self.pool)
            .await?;
        Ok(until.is_some_and(|u| u > now))
    }

    pub async fn cancel_agent_job(&self, job: i64) -> StoreResult<()> {
        sqlx::query("UPDATE agent_jobs SET cancel_requested = 1 WHERE job = $1").bind(job).execute(&self.pool).await?;
        Ok(())
    }

    /// Keeps reports of a job, in one transaction (a second copy of a number is ignored).
    /// With `finished`, the last one is among them: the job is not sent to its agent again.
    pub async fn add_agent_job_reports(&self, job: i64, reports: &[(i64, String)], finished: bool) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        if finished {
            sqlx::query("UPDATE agent_jobs SET finished = 1 WHERE job = $1").bind(job).execute(&mut *tx).await?;
        }
        for (seq, report) in reports {
            sqlx::query(
                "INSERT INTO agent_job_reports (job, seq, report) VALUES ($1, $2, $3) \
                 ON CONFLICT (job, seq) DO NOTHING",
            )
            .bind(job)
            .bind(seq)
            .bind(report)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// Whether a job is still open: a deployment waits for it, on some replica.
    pub async fn agent_job_open(&self, job: i64) -> StoreResult<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT job FROM agent_jobs WHERE job = $1")
            .bind(job)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    /// Lets go of every relay claim (SQLite, one process: they are its own, from before).
    pub async fn drop_agent_job_holds(&self) -> StoreResult<()> {
        sqlx::query("UPDATE agent_jobs SET relayed_by = NULL, relayed_until = 0").execute(&self.pool).await?;
        Ok(())
    }

    /// The number of the last report kept for a job (0 for none).
    pub async fn last_agent_job_report(&self, job: i64) -> StoreResult<i64> {
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM agent_job_reports WHERE job = $1")
            .bind(job)
            .fetch_one(&self.pool)
            .await?;
        Ok(last.unwrap_or(0))
    }

    pub async fn agent_job_reports_after(&self, job: i64, after: i64) -> StoreResult<Vec<(i64, String)>> {
        sqlx::query_as("SELECT seq, report FROM agent_job_reports WHERE job = $1 AND seq > $2 ORDER BY seq")
            .bind(job)
            .bind(after)
            .fetch_all(&self.pool)
            .await
    }

    /// The job is over: it and its reports go.
    pub async fn end_agent_job(&self, job: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM agent_job_reports WHERE job = $1").bind(job).execute(&self.pool).await?;
        sqlx::query("DELETE FROM agent_jobs WHERE job = $1").bind(job).execute(&self.pool).await?;
        Ok(())
    }
}
