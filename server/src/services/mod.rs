//! What Ferry does, independent of how it is asked. `gate` is the door for people
//! and tokens (authorization and audit); the rest is called through it, by the demo
//! seeding, and by the deployment engine's own work. Services take the handles they
//! need (`Handles`), not the HTTP layer's state.

pub mod approvals;
pub mod audit;
pub mod bad_releases;
pub mod build_stage;
pub mod catalog;
pub mod channels;
pub mod deployer;
mod execution;
pub mod forge_events;
pub mod forge_hooks;
pub mod forges;
pub mod freezes;
pub mod gate;
pub mod imports;
pub mod insights;
pub mod masking;
pub mod orphans;
pub mod people;
pub mod previews;
pub mod promotion;
pub mod recorder;
pub mod replica;
pub mod retention;
mod starters;
pub mod step_users;
mod targets;
pub mod tokens;
pub mod variables;
pub mod visibility;

/// What the services work with: the store, the event bus, the deployer, the connected
/// agents, the vault and the notifier. The HTTP layer's `AppState` holds these and
/// what only it needs (sign-in settings and providers, metrics, its closing signal).
#[derive(Clone)]
pub struct Handles {
    pub store: crate::store::Store,
    pub bus: crate::events::EventBus,
    pub deployer: std::sync::Arc<deployer::Deployer>,
    pub agents: crate::agents::AgentHub,
    pub vault: std::sync::Arc<crate::vault::Vault>,
    pub notifier: crate::notify::Notifier,
    /// Where Ferry keeps the repositories it clones (`<data_dir>/repos`).
    pub repos_dir: std::path::PathBuf,
    /// The server's `retention_days` (0 keeps everything).
    pub retention_days: i64,
}
