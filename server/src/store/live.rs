//! What each environment runs, for every environment at once: the matrix reads it in
//! two queries however many projects there are, rather than three per environment.

use std::collections::HashMap;

use ferry_app::model::DeploymentView;

use super::rows::{DeploymentRow, DEPLOYMENT_SELECT};
use super::{Store, StoreResult};

/// One environment's deployments, as a matrix cell shows them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveDeployments {
    /// The newest successful deployment (`latest_in_environment(_, true)`).
    pub current: Option<DeploymentView>,
    /// The newest deployment in any state (`latest_in_environment(_, false)`).
    pub latest: Option<DeploymentView>,
    /// The newest successful deployment of another release than `current`'s
    /// (`previous_success(_, current.release_id)`).
    pub previous: Option<DeploymentView>,
}

/// Per environment, the ids of its current, latest and previous deployments. Both
/// SQLite and PostgreSQL answer `MAX(id) … GROUP BY` from the (environment_id, id) index.
const LIVE_IDS: &str = "WITH current_ids AS (SELECT environment_id, MAX(id) AS id FROM deployments \
        WHERE state = 'succeeded' GROUP BY environment_id), \
    latest_ids AS (SELECT environment_id, MAX(id) AS id FROM deployments GROUP BY environment_id), \
    previous_ids AS (SELECT d.environment_id, MAX(d.id) AS id FROM deployments d \
        JOIN current_ids c ON c.environment_id = d.environment_id JOIN deployments cd ON cd.id = c.id \
        WHERE d.state = 'succeeded' AND d.release_id <> cd.release_id GROUP BY d.environment_id), \
    live_ids AS (SELECT environment_id, 'current' AS role, id FROM current_ids \
        UNION ALL SELECT environment_id, 'latest' AS role, id FROM latest_ids \
        UNION ALL SELECT environment_id, 'previous' AS role, id FROM previous_ids)";

impl Store {
    /// Every environment that has a deployment, keyed by environment id.
    pub async fn live_deployments(&self) -> StoreResult<HashMap<i64, LiveDeployments>> {
        let roles: Vec<(i64, String, i64)> =
            sqlx::query_as(&format!("{LIVE_IDS} SELECT environment_id, role, id FROM live_ids"))
                .fetch_all(&self.pool)
                .await?;
        let rows: Vec<DeploymentRow> =
            sqlx::query_as(&format!("{LIVE_IDS} {DEPLOYMENT_SELECT} WHERE d.id IN (SELECT id FROM live_ids)"))
                .fetch_all(&self.pool)
                .await?;
        let by_id: HashMap<i64, DeploymentView> = rows.into_iter().map(|r| (r.id, r.view())).collect();
        let mut live: HashMap<i64, LiveDeployments> = HashMap::new();
        for (environment_id, role, id) in roles {
            let Some(deployment) = by_id.get(&id).cloned() else { continue };
            let cells = live.entry(environment_id).or_default();
            match role.as_str() {
                "current" => cells.current = Some(deployment),
                "latest" => cells.latest = Some(deployment),
                _ => cells.previous = Some(deployment),
            }
        }
        Ok(live)
    }
}
