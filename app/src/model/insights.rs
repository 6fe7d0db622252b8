//! Insights: success rates, deployments per day and the DORA keys.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Outcomes of finished deployments for one environment or project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SuccessRate {
    pub name: String,
    pub succeeded: i64,
    pub failed: i64,
    pub cancelled: i64,
    /// succeeded / (succeeded + failed); `None` with neither.
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DailyCount {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub succeeded: i64,
    pub failed: i64,
}

/// The four DORA keys, measured on each project's last (production) environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Dora {
    pub production_deployments: i64,
    /// Successful production deployments per day.
    pub deployments_per_day: f64,
    /// Median time from commit to running in production.
    pub lead_time_hours: Option<f64>,
    /// Failed / finished production deployments.
    pub change_failure_rate: Option<f64>,
    /// Median time from a failed production deployment to the next successful one.
    pub time_to_restore_hours: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Insights {
    pub days: i64,
    pub environments: Vec<SuccessRate>,
    pub projects: Vec<SuccessRate>,
    /// One entry per day of the window, oldest first.
    pub daily: Vec<DailyCount>,
    pub dora: Dora,
}
