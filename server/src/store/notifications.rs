//! Notifications of the in-app notification center, each person's read marks, and
//! each person's preferences (what they hear of in the app and by email).

use ferry_app::model::{NotificationKind, NotificationView, NotifyEvent};

use super::{now_millis, to_time, Store, StoreResult};

#[derive(sqlx::FromRow)]
struct NotificationRow {
    id: i64,
    kind: String,
    title: String,
    deployment_id: Option<i64>,
    created_at: i64,
    read_at: Option<i64>,
    project_id: Option<i64>,
}

impl NotificationRow {
    fn view(self) -> (NotificationView, Option<i64>) {
        let view = NotificationView {
            id: self.id,
            kind: NotificationKind::parse(&self.kind).unwrap_or(NotificationKind::DeploymentFailed),
            title: self.title,
            deployment_id: self.deployment_id,
            created_at: to_time(self.created_at),
            read: self.read_at.is_some(),
        };
        (view, self.project_id)
    }
}

/// `kind IN ('a', 'b')` from the kinds' own names (never from input); never empty.
fn kinds_sql(kinds: &[NotificationKind]) -> String {
    let names: Vec<String> = kinds.iter().map(|k| format!("'{}'", k.as_str())).collect();
    if names.is_empty() {
        "n.kind IN ('')".into()
    } else {
        format!("n.kind IN ({})", names.join(", "))
    }
}

fn events_text(events: &[NotifyEvent]) -> String {
    events.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(",")
}

fn parse_events(text: &str) -> Vec<NotifyEvent> {
    text.split(',').filter_map(NotifyEvent::parse).collect()
}

impl Store {
    pub async fn create_notification(
        &self,
        kind: NotificationKind,
        title: &str,
        deployment_id: Option<i64>,
    ) -> StoreResult<NotificationView> {
        let created_at = now_millis();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO notifications (kind, title, deployment_id, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(kind.as_str())
        .bind(title)
        .bind(deployment_id)
        .bind(created_at)
        .fetch_one(&self.pool)
        .await?;
        let title = title.to_string();
        Ok(NotificationView { id, kind, title, deployment_id, created_at: to_time(created_at), read: false })
    }

    /// A person's newest notifications of `kinds`, with their read marks and the
    /// project each is about (for visibility), newest first.
    pub async fn notifications_for(
        &self,
        user_id: i64,
        kinds: &[NotificationKind],
        limit: i64,
    ) -> StoreResult<Vec<(NotificationView, Option<i64>)>> {
        let sql = format!(
            "SELECT n.id, n.kind, n.title, n.deployment_id, n.created_at, r.read_at, d.project_id \
             FROM notifications n \
             LEFT JOIN notification_reads r ON r.notification_id = n.id AND r.user_id = $1 \
             LEFT JOIN deployments d ON d.id = n.deployment_id \
             WHERE {} ORDER BY n.id DESC LIMIT $2",
            kinds_sql(kinds)
        );
        let rows: Vec<NotificationRow> = sqlx::query_as(&sql).bind(user_id).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(NotificationRow::view).collect())
    }

    /// How many notifications of `kinds` a person has not read.
    pub async fn unread_for(&self, user_id: i64, kinds: &[NotificationKind]) -> StoreResult<i64> {
        let sql = format!(
            "SELECT COUNT(*) FROM notifications n WHERE {} AND NOT EXISTS \
             (SELECT 1 FROM notification_reads r WHERE r.notification_id = n.id AND r.user_id = $1)",
            kinds_sql(kinds)
        );
        sqlx::query_scalar(&sql).bind(user_id).fetch_one(&self.pool).await
    }

    /// Marks the given notifications (all when `None`) read for one person; returns
    /// the ids that changed.
    pub async fn mark_read_for(&self, user_id: i64, ids: Option<&[i64]>) -> StoreResult<Vec<i64>> {
        let unread: Vec<i64> = sqlx::query_scalar(
            "SELECT n.id FROM notifications n WHERE NOT EXISTS \
             (SELECT 1 FROM notification_reads r WHERE r.notification_id = n.id AND r.user_id = $1)",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        let chosen: Vec<i64> = unread.into_iter().filter(|id| ids.is_none_or(|ids| ids.contains(id))).collect();
        let now = now_millis();
        let mut tx = self.pool.begin().await?;
        for id in &chosen {
            sqlx::query(
                "INSERT INTO notification_reads (user_id, notification_id, read_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, notification_id) DO NOTHING",
            )
            .bind(user_id)
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(chosen)
    }

    /// A person's preferences: in the app, by email (`None`: never set).
    pub async fn notify_preferences(&self, user_id: i64) -> StoreResult<Option<(Vec<NotifyEvent>, Vec<NotifyEvent>)>> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT in_app, email FROM notify_preferences WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(in_app, email)| (parse_events(&in_app), parse_events(&email))))
    }

    pub async fn set_notify_preferences(
        &self,
        user_id: i64,
        in_app: &[NotifyEvent],
        email: &[NotifyEvent],
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO notify_preferences (user_id, in_app, email, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id) DO UPDATE SET in_app = excluded.in_app, email = excluded.email, \
             updated_at = excluded.updated_at",
        )
        .bind(user_id)
        .bind(events_text(in_app))
        .bind(events_text(email))
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The people who want `event` by email: their ids and addresses.
    pub async fn email_subscribers(&self, event: NotifyEvent) -> StoreResult<Vec<(i64, String)>> {
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT u.id, u.email, p.email FROM notify_preferences p JOIN users u ON u.id = p.user_id \
             WHERE u.email IS NOT NULL AND p.email <> ''",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter(|(_, _, events)| parse_events(events).contains(&event))
            .map(|(id, address, _)| (id, address))
            .collect())
    }
}
