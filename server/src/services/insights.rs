//! Insights: success rates per environment and project, deployments per day, and the
//! four DORA keys, computed from the finished deployments of a time window.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use ferry_app::error::AppError;
use ferry_app::model::{DailyCount, DeploymentState, Dora, Insights, SuccessRate};

use crate::error::OrInternal;
use crate::store::{to_time, FinishedDeployment, Store};

const HOUR_MS: f64 = 3_600_000.0;

/// Insights over the last `days`, of one project or of all that `visible` accepts.
pub async fn insights(
    store: &Store,
    project: Option<&str>,
    days: i64,
    visible: impl Fn(&str) -> bool,
) -> Result<Insights, AppError> {
    if !(1..=365).contains(&days) {
        return Err(AppError::bad_request("days: must be between 1 and 365"));
    }
    let now = Utc::now().timestamp_millis();
    let since = now - days * 24 * 3_600_000;
    let mut facts = store.finished_since(since, project).await.or_internal("loading finished deployments")?;
    facts.retain(|f| visible(&f.project));
    Ok(compute(&facts, now, days))
}

fn rate(name: String, facts: &[&FinishedDeployment]) -> SuccessRate {
    let count = |state| facts.iter().filter(|f| f.state == state).count() as i64;
    let (succeeded, failed) = (count(DeploymentState::Succeeded), count(DeploymentState::Failed));
    let rate = (succeeded + failed > 0).then(|| succeeded as f64 / (succeeded + failed) as f64);
    SuccessRate { name, succeeded, failed, cancelled: count(DeploymentState::Cancelled), rate }
}

fn rates(facts: &[FinishedDeployment], key: impl Fn(&FinishedDeployment) -> String) -> Vec<SuccessRate> {
    let mut groups: BTreeMap<String, Vec<&FinishedDeployment>> = BTreeMap::new();
    for f in facts {
        groups.entry(key(f)).or_default().push(f);
    }
    groups.into_iter().map(|(name, group)| rate(name, &group)).collect()
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) { (values[mid - 1] + values[mid]) / 2.0 } else { values[mid] })
}

/// `facts` are finished deployments ordered by finish time; `now` in Unix milliseconds.
pub fn compute(facts: &[FinishedDeployment], now: i64, days: i64) -> Insights {
    let today = to_time(now).date_naive();
    let daily = (0..days)
        .rev()
        .map(|back| {
            let day = today - Duration::days(back);
            let on_day: Vec<_> = facts.iter().filter(|f| to_time(f.finished_at).date_naive() == day).collect();
            let count = |state| on_day.iter().filter(|f| f.state == state).count() as i64;
            DailyCount {
                day: day.format("%Y-%m-%d").to_string(),
                succeeded: count(DeploymentState::Succeeded),
                failed: count(DeploymentState::Failed),
            }
        })
        .collect();

    let production: Vec<&FinishedDeployment> = facts.iter().filter(|f| f.production).collect();
    let succeeded: Vec<&&FinishedDeployment> =
        production.iter().filter(|f| f.state == DeploymentState::Succeeded).collect();
    let failed = production.iter().filter(|f| f.state == DeploymentState::Failed).count();
    let lead_times =
        succeeded.iter().filter_map(|f| f.committed_at.map(|c| (f.finished_at - c).max(0) as f64 / HOUR_MS)).collect();
    // A failure opens an outage of its environment; the next success there closes it.
    let mut open: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    let mut restores = Vec::new();
    for f in &production {
        let key = (f.project.as_str(), f.environment.as_str());
        match f.state {
            DeploymentState::Failed => {
                open.entry(key).or_insert(f.finished_at);
            }
            DeploymentState::Succeeded => {
                if let Some(start) = open.remove(&key) {
                    restores.push((f.finished_at - start) as f64 / HOUR_MS);
                }
            }
            _ => {}
        }
    }
    let finished = succeeded.len() + failed;
    let dora = Dora {
        production_deployments: succeeded.len() as i64,
        deployments_per_day: succeeded.len() as f64 / days as f64,
        lead_time_hours: median(lead_times),
        change_failure_rate: (finished > 0).then(|| failed as f64 / finished as f64),
        time_to_restore_hours: median(restores),
    };
    Insights {
        days,
        environments: rates(facts, |f| f.environment.clone()),
        projects: rates(facts, |f| f.project.clone()),
        daily,
        dora,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn fact(
        env: &str,
        production: bool,
        state: DeploymentState,
        finished_at: i64,
        committed_at: Option<i64>,
    ) -> FinishedDeployment {
        FinishedDeployment {
            project: "api".into(),
            environment: env.into(),
            production,
            state,
            finished_at,
            committed_at,
        }
    }

    #[test]
    fn dora_keys_from_a_known_history() {
        let now = 100 * 24 * H;
        use DeploymentState::*;
        let facts = vec![
            fact("staging", false, Succeeded, now - 50 * H, Some(now - 60 * H)),
            fact("production", true, Succeeded, now - 48 * H, Some(now - 60 * H)), // lead 12 h
            fact("production", true, Failed, now - 30 * H, Some(now - 32 * H)),
            fact("production", true, Failed, now - 29 * H, Some(now - 32 * H)), // same outage
            fact("production", true, Succeeded, now - 26 * H, Some(now - 30 * H)), // restored after 4 h, lead 4 h
            fact("production", true, Cancelled, now - 2 * H, None),
        ];
        let insights = compute(&facts, now, 7);
        let dora = insights.dora;
        assert_eq!(dora.production_deployments, 2);
        assert!((dora.deployments_per_day - 2.0 / 7.0).abs() < 1e-9);
        assert_eq!(dora.lead_time_hours, Some(8.0), "median of 12 h and 4 h");
        assert_eq!(dora.change_failure_rate, Some(0.5));
        assert_eq!(dora.time_to_restore_hours, Some(4.0));

        let production = insights.environments.iter().find(|r| r.name == "production").unwrap();
        assert_eq!((production.succeeded, production.failed, production.cancelled), (2, 2, 1));
        assert_eq!(production.rate, Some(0.5));
        assert_eq!(insights.projects[0].rate, Some(0.6));
        assert_eq!(insights.daily.len(), 7);
        let total: i64 = insights.daily.iter().map(|d| d.succeeded + d.failed).sum();
        assert_eq!(total, 5);
        assert_eq!(insights.daily.last().unwrap().day, "1970-04-11");
    }

    #[test]
    fn nothing_deployed_means_no_rates_not_zero() {
        let insights = compute(&[], 10 * 24 * H, 30);
        assert_eq!(insights.dora.change_failure_rate, None);
        assert_eq!(insights.dora.lead_time_hours, None);
        assert_eq!(insights.dora.deployments_per_day, 0.0);
        assert!(insights.environments.is_empty());
    }
}
