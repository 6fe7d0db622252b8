//! What Ferry does, independent of how it is asked: the REST API, the server
//! functions and the demo seeding all call these.

pub mod catalog;
pub mod deployer;
mod execution;
pub mod insights;
pub mod notifier;
pub mod promotion;
pub mod recorder;
