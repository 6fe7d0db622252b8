//! The store: Ferry's state in SQLite (embedded default) or PostgreSQL, behind one
//! set of queries over sqlx's `Any` driver. Times are stored as Unix milliseconds.

mod agent_relay;
mod agents;
mod approvals;
mod audit;
mod catalog;
mod deploy_keys;
mod deployments;
mod events;
mod forge_reports;
mod forges;
mod freezes;
mod jobs;
mod leases;
mod live;
mod notifications;
mod notify;
mod previews;
mod reports;
mod retention;
mod rows;
mod sessions;
mod ssh;
mod targets;
mod throttle;
mod tokens;
mod users;
mod variables;

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::AnyPool;

pub use agent_relay::RelayedJob;
pub use agents::{AgentIdentity, AgentRow, OpenRegistration};
pub use audit::{AuditFilter, NewAudit};
pub use catalog::is_unique_violation;
pub use catalog::{NewProject, NewRelease};
pub use deploy_keys::DeployKeyRow;
pub use deployments::{NewDeployment, NewLogLine, StepChange};
pub use events::EVENTS_CHANNEL;
pub use forge_reports::ForgeReportRow;
pub use forges::ForgeLinkRow;
pub use jobs::{kinds as job_kinds, JobRow, Order as JobOrder};
pub use leases::ExpiredLease;
pub use live::LiveDeployments;
pub use notify::{ChannelSecret, NewDelivery, OutboxRow};
pub use previews::{OpenPreview, PreviewRow};
pub use reports::FinishedDeployment;
pub use retention::{Removed, RetentionTotal};
pub use rows::ReleaseRow;
pub use ssh::{SshHostFields, SshHostRow, SshKeyRow};
pub use targets::{RecordedStep, ResumableTarget, TargetEnd, TargetPlan};
pub use tokens::{NewToken, TokenRow};
pub use users::{Identity, UserRow};
pub use variables::{Stored, VariableRow};

/// Which database a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

pub type StoreResult<T> = Result<T, sqlx::Error>;

impl Store {
    /// Connects and brings the schema up to date.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url).ok_or_else(|| {
            sqlx::Error::Configuration(format!("unsupported database URL `{url}`: use sqlite: or postgres://").into())
        })?;
        let options = AnyConnectOptions::from_str(url)?;
        let sqlite = backend == Backend::Sqlite;
        let pool = AnyPoolOptions::new()
            // SQLite has one writer; more connections only add lock contention.
            .max_connections(if sqlite { 4 } else { 16 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // With the write-ahead log, NORMAL syncs at checkpoints instead of
                        // every commit: a crash cannot corrupt the database, and log lines
                        // no longer wait for the disk one by one.
                        sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        if sqlite {
            // Persistent in the database file; readers then never block the writer.
            sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
        }
        let migrator = match backend {
            Backend::Sqlite => sqlx::migrate!("../migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("../migrations/postgres"),
        };
        migrator.run(&pool).await?;
        Ok(Self { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ())
    }
}

pub fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

pub fn to_time(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(millis).single().unwrap_or_default()
}
