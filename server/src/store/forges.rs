//! Projects' links to their forge repositories, the webhook deliveries seen, and the
//! forge events that made releases (each once).

use ferry_app::model::{ForgeKind, ForgeLinkView};

use super::{now_millis, to_time, Store, StoreResult};

/// A link with its sealed secret, as the webhook check needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ForgeLinkRow {
    pub project_id: i64,
    pub forge: String,
    pub repo: String,
    pub sealed_secret: String,
    /// The API token for reporting statuses (and fetching private repositories).
    pub sealed_token: Option<String>,
    pub created_at: i64,
}

impl ForgeLinkRow {
    pub fn view(&self, base_url: &str) -> ForgeLinkView {
        let forge = ForgeKind::parse(&self.forge).unwrap_or(ForgeKind::Github);
        ForgeLinkView {
            forge,
            repo: self.repo.clone(),
            hook_url: format!("{base_url}/hooks/{}", forge.as_str()),
            reports_statuses: self.sealed_token.is_some(),
            created_at: to_time(self.created_at),
            reports: Vec::new(),
        }
    }
}

const LINKS: &str = "SELECT project_id, forge, repo, sealed_secret, sealed_token, created_at FROM forge_links";

impl Store {
    /// Links a project (replacing an earlier link).
    pub async fn set_forge_link(
        &self,
        project_id: i64,
        forge: ForgeKind,
        repo: &str,
        sealed_secret: &str,
        sealed_token: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO forge_links (project_id, forge, repo, sealed_secret, sealed_token, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (project_id) DO UPDATE SET forge = excluded.forge, repo = excluded.repo, \
             sealed_secret = excluded.sealed_secret, sealed_token = excluded.sealed_token, \
             created_at = excluded.created_at",
        )
        .bind(project_id)
        .bind(forge.as_str())
        .bind(repo)
        .bind(sealed_secret)
        .bind(sealed_token)
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn forge_link(&self, project_id: i64) -> StoreResult<Option<ForgeLinkRow>> {
        sqlx::query_as(&format!("{LINKS} WHERE project_id = $1")).bind(project_id).fetch_optional(&self.pool).await
    }

    /// Every project linked to a repository on `forge`.
    pub async fn forge_links(&self, forge: ForgeKind) -> StoreResult<Vec<ForgeLinkRow>> {
        sqlx::query_as(&format!("{LINKS} WHERE forge = $1 ORDER BY project_id"))
            .bind(forge.as_str())
            .fetch_all(&self.pool)
            .await
    }

    pub async fn remove_forge_link(&self, project_id: i64) -> StoreResult<bool> {
        let gone =
            sqlx::query("DELETE FROM forge_links WHERE project_id = $1").bind(project_id).execute(&self.pool).await?;
        Ok(gone.rows_affected() > 0)
    }

    /// Records a webhook delivery; false when it was seen before.
    pub async fn record_forge_delivery(
        &self,
        forge: ForgeKind,
        delivery_id: &str,
        project_id: i64,
        event: &str,
    ) -> StoreResult<bool> {
        let added = sqlx::query(
            "INSERT INTO forge_deliveries (forge, delivery_id, project_id, event, received_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (forge, delivery_id) DO NOTHING",
        )
        .bind(forge.as_str())
        .bind(delivery_id)
        .bind(project_id)
        .bind(event)
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(added.rows_affected() > 0)
    }

    /// What handling a delivery came to (a release, a deployment, or why nothing).
    pub async fn set_forge_delivery_outcome(
        &self,
        forge: ForgeKind,
        delivery_id: &str,
        outcome: &str,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE forge_deliveries SET outcome = $1 WHERE forge = $2 AND delivery_id = $3")
            .bind(outcome)
            .bind(forge.as_str())
            .bind(delivery_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn forge_delivery_outcome(&self, forge: ForgeKind, delivery_id: &str) -> StoreResult<Option<String>> {
        let outcome: Option<Option<String>> =
            sqlx::query_scalar("SELECT outcome FROM forge_deliveries WHERE forge = $1 AND delivery_id = $2")
                .bind(forge.as_str())
                .bind(delivery_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(outcome.flatten())
    }

    /// Gives a claim back when making its release failed, so a redelivery can retry.
    pub async fn release_forge_trigger(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM forge_triggers WHERE trigger_key = $1").bind(key).execute(&self.pool).await?;
        Ok(())
    }

    /// Claims a forge event for one release; false when it already made one.
    pub async fn claim_forge_trigger(&self, key: &str, project_id: i64) -> StoreResult<bool> {
        let added = sqlx::query(
            "INSERT INTO forge_triggers (trigger_key, project_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (trigger_key) DO NOTHING",
        )
        .bind(key)
        .bind(project_id)
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(added.rows_affected() > 0)
    }
}
