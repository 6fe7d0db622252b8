//! The Ferry server: configuration, store, event bus, deployment services and the
//! HTTP surface. `main.rs` only parses arguments and calls `start`.

/// The version and the git commit it was built from (server/build.rs).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("FERRY_GIT_COMMIT"), ")");

pub mod agents;
pub mod auth;
pub mod backend;
pub mod cli;
pub mod config;
pub mod data_lock;
pub mod demo;
pub mod error;
pub mod events;
pub mod forge;
pub mod git;
pub mod http;
pub mod jobs;
pub mod notify;
pub mod services;
pub mod ssh;
pub mod state;
pub mod store;
pub mod telemetry;
#[cfg(test)]
mod test_support;
pub mod vault;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use config::Config;
use events::EventBus;
use services::deployer::Deployer;
use state::{AppState, AuthSettings};
use store::Store;
use telemetry::Metrics;

/// A started server: where it listens and what it serves.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
    /// How long running deployments may take to finish when the server is stopped.
    pub grace: std::time::Duration,
    /// With SQLite: this process's hold on the data directory.
    _data_lock: Option<data_lock::DataDirLock>,
}

/// Opens the store, seeds the demo, recovers interrupted work and starts listening.
pub async fn start(config: &Config) -> Result<Running, String> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| format!("cannot create the data directory {}: {e}", config.data_dir.display()))?;
    let data_dir = std::fs::canonicalize(&config.data_dir).map_err(|e| e.to_string())?;
    let database_url = config.database_url();
    let data_lock = match database_url.starts_with("sqlite:") {
        true => Some(data_lock::acquire(&data_dir).await?),
        false => None,
    };
    let step_users = services::step_users::StepUsers::resolve(&config.step_user)?;
    let store = Store::connect(&database_url).await.map_err(|e| format!("cannot open the database: {e}"))?;
    if data_lock.is_some() {
        // Alone on this data directory: claims left in it are a killed process's, and
        // its messages and reports are this one's to send now, not when they expire.
        store.drop_job_claims().await.map_err(|e| format!("cannot read the database: {e}"))?;
        store.drop_agent_job_holds().await.map_err(|e| format!("cannot read the database: {e}"))?;
    }
    if step_users.active() {
        services::step_users::protect_data_dir(&data_dir)?;
    }
    let bus = match store.backend() {
        store::Backend::Sqlite => EventBus::new(store.clone()),
        store::Backend::Postgres => EventBus::across_replicas(store.clone(), &database_url),
    };
    let metrics = Arc::new(Metrics::default());
    let agents = agents::AgentHub::new(std::time::Duration::from_secs(config.agent_grace_seconds));
    let key_file = config.secret_key_file.clone().unwrap_or_else(|| data_dir.join("secret.key"));
    let vault = Arc::new(vault::Vault::open(std::env::var("FERRY_SECRET_KEY").ok().as_deref(), &key_file)?);
    // Bound first: messages link to Ferry, at its public URL or else this address.
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let base_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let personal_mail = config.personal_mail();
    let forge_urls = forge::ForgeUrls { github_api: config.github_api_url.clone(), gitlab: config.gitlab_url.clone() };
    let forges = forge::Reporter::new(store.clone(), vault.clone(), forge_urls, &base_url);
    let notifier = notify::Notifier::new(store.clone(), bus.clone(), vault.clone(), &base_url, personal_mail, forges);
    let targets = data_dir.join("targets");
    let timing = ssh::session::Timing {
        connect: std::time::Duration::from_secs(config.ssh_connect_timeout_seconds),
        ..Default::default()
    };
    let replica =
        services::replica::Replica::new(std::time::Duration::from_secs(config.lease_seconds), data_lock.is_some());
    let per_host = config.ssh_sessions_per_host;
    let ssh = Arc::new(ssh::connector::Connector::new(store.clone(), vault.clone(), timing, per_host, replica.clone()));
    let deployer = Deployer::new(
        store.clone(),
        bus.clone(),
        metrics.clone(),
        services::deployer::Workspace { targets, step_users, ssh },
        agents.clone(),
        vault.clone(),
        replica,
    );
    let auth = Arc::new(AuthSettings::from_config(config));
    let providers = auth::providers::Providers::new(&config.sign_in, config.public_url.as_deref())?;
    let closing = tokio_util::sync::CancellationToken::new();
    let repos_dir = data_dir.join("repos");
    let retention_days = i64::from(config.retention_days);
    let services = services::Handles { store, bus, deployer, agents, vault, notifier, repos_dir, retention_days };
    let state = AppState { services, metrics, auth, providers, closing };

    if config.password_sign_in {
        let generated = auth::passwords::ensure_admin(&state.store, config.admin_password.as_deref())
            .await
            .map_err(|e| format!("cannot create the local administrator: {e}"))?;
        if let Some(password) = generated {
            // Shown once: only its hash is kept.
            println!("\n  Ferry created the local administrator.\n  Sign in as `admin` with password: {password}\n  (set FERRY_ADMIN_PASSWORD to choose it)\n");
        }
    }
    demo::seed(&state.store, config).await.map_err(|e| format!("cannot create the demo project: {e}"))?;
    state.deployer.start_replica().await.map_err(|e| format!("cannot recover deployments: {}", e.message))?;
    jobs::Runner::new(state.store.clone())
        .handle(
            jobs::DEPLOYMENT_FINISHED,
            notify_about(&state, |n, d| Box::pin(async move { n.deployment_finished(&d).await })),
        )
        .handle(
            jobs::DEPLOYMENT_STARTED,
            notify_about(&state, |n, d| Box::pin(async move { n.deployment_started(&d).await })),
        )
        .handle(
            jobs::APPROVAL_REQUESTED,
            notify_about(&state, |n, d| Box::pin(async move { n.approval_requested(&d).await })),
        )
        .handle(jobs::AGENT_OFFLINE, {
            let notifier = state.notifier.clone();
            move |payload| {
                let notifier = notifier.clone();
                async move {
                    let gone: agents::offline::AgentAbsence =
                        serde_json::from_str(&payload).map_err(|e| format!("not an agent's absence: {e}"))?;
                    notifier.agent_offline(gone.agent_id, &gone.name, &gone.labels, gone.since).await;
                    Ok(jobs::JobEnd::Done)
                }
            }
        })
        .handle(jobs::DELIVER_NOTIFICATION, {
            let notifier = state.notifier.clone();
            move |payload| {
                let notifier = notifier.clone();
                async move { notifier.deliver(id_in(&payload)?).await }
            }
        })
        .handle(jobs::SEND_FORGE_REPORT, {
            let reporter = state.notifier.forges().clone();
            move |payload| {
                let reporter = reporter.clone();
                async move { reporter.send_report(id_in(&payload)?).await }
            }
        })
        .handle(jobs::PREVIEW_EXPIRY, {
            let services = state.services.clone();
            move |payload| {
                let services = services.clone();
                async move {
                    let expiry = serde_json::from_str(&payload).map_err(|e| format!("a preview expiry: {e}"))?;
                    services::previews::expire(&services, expiry).await
                }
            }
        })
        .handle(jobs::RETENTION_SWEEP, {
            let services = state.services.clone();
            move |payload| {
                let services = services.clone();
                async move { services::retention::sweep(&services, &payload).await }
            }
        })
        .handle(jobs::PREVIEW_PLACE_FREED, {
            let services = state.services.clone();
            move |payload| {
                let services = services.clone();
                async move { services::previews::fill_places(&services, id_in(&payload)?).await }
            }
        })
        .start();
    services::retention::schedule(&state.store, services::retention::today())
        .await
        .map_err(|e| format!("cannot schedule retention: {e}"))?;
    auth::session_store::sweep_expired(state.store.clone());
    let replica_id = state.deployer.replica_id().to_string();
    agents::offline::watch(state.agents.clone(), state.store.clone(), replica_id.clone());
    agents::relay::start(state.store.clone(), state.agents.clone(), state.vault.clone(), replica_id);

    let app = http::router(state.clone(), &http::spa::Site::new(config.site_dir.as_deref()));
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    let closed = state.closing.clone().cancelled_owned();
    let server = tokio::spawn(async move { axum::serve(listener, app).with_graceful_shutdown(closed).await });
    let grace = std::time::Duration::from_secs(config.shutdown_grace_seconds);
    Ok(Running { addr, state, server, grace, _data_lock: data_lock })
}

impl Running {
    /// Stops the way SIGTERM asks: no new deployments, the running ones finish (within
    /// the grace; then they are stopped, with a reason), queued ones wait for the next
    /// start; then websockets close and the server stops listening. Agents stay
    /// connected until the end, so deployments on them can report to the last line.
    pub async fn shut_down(self) -> std::io::Result<()> {
        tracing::info!(grace = ?self.grace, "shutting down: finishing the running deployments");
        if !self.state.deployer.drain(self.grace).await {
            tracing::warn!("the shutdown grace ran out: deployments on agents were handed over, the others stopped");
        }
        self.state.closing.cancel();
        match self.server.await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

/// Tells the notifier about a deployment (one of its methods, as a job's work).
type Tell =
    fn(notify::Notifier, ferry_app::model::DeploymentView) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// A job handler that tells the notifier about the deployment whose id is the payload.
/// The id a job's payload names.
fn id_in(payload: &str) -> Result<i64, String> {
    payload.parse().map_err(|_| format!("not an id: {payload}"))
}

fn notify_about(state: &AppState, tell: Tell) -> impl Fn(String) -> jobs::JobFuture + Send + Sync + 'static {
    let (store, notifier) = (state.store.clone(), state.notifier.clone());
    move |payload| {
        let (store, notifier) = (store.clone(), notifier.clone());
        Box::pin(async move {
            let id = id_in(&payload)?;
            match store.deployment(id).await.map_err(|e| e.to_string())? {
                Some(deployment) => tell(notifier, deployment).await,
                None => tracing::warn!(deployment = id, "the deployment is gone; nothing to notify"),
            }
            Ok(jobs::JobEnd::Done)
        })
    }
}
