//! What every request handler shares.

use std::sync::Arc;

use crate::auth::providers::Providers;
use crate::services::Handles;
use crate::telemetry::Metrics;

#[derive(Clone)]
pub struct AppState {
    /// What the services take (the store, the bus, the deployer, the agents, the vault,
    /// the notifier); reached through `AppState` as if they were its own fields.
    pub services: Handles,
    pub metrics: Arc<Metrics>,
    pub auth: Arc<AuthSettings>,
    pub providers: Providers,
    /// Cancelled when the server stops serving: open websockets close (browsers then
    /// reconnect, to this server once it is back or to another replica).
    pub closing: tokio_util::sync::CancellationToken,
}

impl std::ops::Deref for AppState {
    type Target = Handles;

    fn deref(&self) -> &Handles {
        &self.services
    }
}

/// How people sign in and how long sessions last.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// The configured public origin, trusted by the CSRF check.
    pub public_origin: Option<String>,
    /// Served over HTTPS: the session cookie is Secure and `__Host-` prefixed.
    pub secure: bool,
    pub session_idle_minutes: i64,
    pub session_max_ms: i64,
    pub password_sign_in: bool,
    /// Failed password sign-ins per login per window (an address gets five times as many).
    pub sign_in_max_failures: i64,
}

impl AuthSettings {
    pub fn from_config(config: &crate::config::Config) -> Self {
        let public_origin = config.public_origin();
        Self {
            secure: public_origin.as_deref().is_some_and(|o| o.starts_with("https://")),
            public_origin,
            session_idle_minutes: config.session_idle_minutes,
            session_max_ms: config.session_max_hours * 3_600_000,
            password_sign_in: config.password_sign_in,
            sign_in_max_failures: config.sign_in_max_failures,
        }
    }
}
