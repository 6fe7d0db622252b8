//! Ferry's deployment engine: the deployment state machine, the `ferry.yml` pipeline
//! format and the local executor that runs steps as processes (one deployment per
//! environment is the server's to enforce, with leases in its database).
//! It knows nothing of HTTP, databases or the UI; the server drives it and records
//! what it reports.

pub mod states;

#[cfg(feature = "runtime")]
pub mod artifact;
#[cfg(feature = "runtime")]
pub mod executor;
#[cfg(feature = "runtime")]
pub mod health;
#[cfg(feature = "runtime")]
pub mod machine;
#[cfg(feature = "runtime")]
pub mod pipeline;
#[cfg(feature = "runtime")]
pub mod plan;
#[cfg(feature = "runtime")]
pub mod process;
#[cfg(feature = "runtime")]
pub mod protocol;
#[cfg(feature = "runtime")]
pub mod release_dir;
#[cfg(feature = "runtime")]
pub mod retry;
#[cfg(feature = "runtime")]
pub mod rollout;
#[cfg(feature = "runtime")]
pub mod upload;

pub use states::{DeploymentState, LogStream, StepState, TargetState};
