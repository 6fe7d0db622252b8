//! Types exchanged between the server and the browser: the REST API, the server
//! functions and the websocket all speak these.

mod access;
mod agents;
mod catalog;
mod channels;
mod deployments;
mod events;
mod forges;
mod freezes;
mod imports;
mod insights;
mod matrix;
mod notifications;
mod ssh;
mod variables;

pub use access::*;
pub use agents::*;
pub use catalog::*;
pub use channels::*;
pub use deployments::*;
pub use events::*;
pub use ferry_engine::{DeploymentState, LogStream, StepState, TargetState};
pub use forges::*;
pub use freezes::*;
pub use imports::*;
pub use insights::*;
pub use matrix::*;
pub use notifications::*;
pub use ssh::*;
pub use variables::*;
