//! Notifications of the in-app notification center, and their read state.

use ferry_app::model::{NotificationKind, NotificationView};

use super::{now_millis, to_time, Store, StoreResult};

#[derive(sqlx::FromRow)]
struct NotificationRow {
    id: i64,
    kind: String,
    title: String,
    deployment_id: Option<i64>,
    created_at: i64,
    read_at: Option<i64>,
}

impl NotificationRow {
    fn view(self) -> NotificationView {
        NotificationView {
            id: self.id,
            kind: NotificationKind::parse(&self.kind).unwrap_or(NotificationKind::DeploymentFailed),
            title: self.title,
            deployment_id: self.deployment_id,
            created_at: to_time(self.created_at),
            read: self.read_at.is_some(),
        }
    }
}

const COLUMNS: &str = "id, kind, title, deployment_id, created_at, read_at";

impl Store {
    pub async fn create_notification(
        &self,
        kind: NotificationKind,
        title: &str,
        deployment_id: Option<i64>,
    ) -> StoreResult<NotificationView> {
        let sql = format!(
            "INSERT INTO notifications (kind, title, deployment_id, created_at) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
        );
        let row: NotificationRow = sqlx::query_as(&sql)
            .bind(kind.as_str())
            .bind(title)
            .bind(deployment_id)
            .bind(now_millis())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.view())
    }

    /// Newest first.
    pub async fn notifications(&self, limit: i64) -> StoreResult<Vec<NotificationView>> {
        let sql = format!("SELECT {COLUMNS} FROM notifications ORDER BY id DESC LIMIT $1");
        let rows: Vec<NotificationRow> = sqlx::query_as(&sql).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(NotificationRow::view).collect())
    }

    pub async fn unread_notifications(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE read_at IS NULL").fetch_one(&self.pool).await
    }

    /// Marks the given notifications (all when `None`) read; returns the ids that changed.
    pub async fn mark_notifications_read(&self, ids: Option<&[i64]>) -> StoreResult<Vec<i64>> {
        let unread: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM notifications WHERE read_at IS NULL").fetch_all(&self.pool).await?;
        let chosen: Vec<i64> = unread.into_iter().filter(|id| ids.is_none_or(|ids| ids.contains(id))).collect();
        let now = now_millis();
        let mut tx = self.pool.begin().await?;
        for id in &chosen {
            sqlx::query("UPDATE notifications SET read_at = $1 WHERE id = $2 AND read_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(chosen)
    }
}
