//! What Ferry does, independent of how it is asked. `gate` is the door for people
//! and tokens (authorization and audit); the rest is called through it, by the demo
//! seeding, and by the deployment engine's own work.

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
mod hosts;
pub mod insights;
pub mod masking;
pub mod notifier;
pub mod orphans;
pub mod people;
pub mod promotion;
pub mod recorder;
pub mod replica;
pub mod step_users;
pub mod tokens;
pub mod variables;
pub mod visibility;
