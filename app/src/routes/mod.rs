//! One page per file.

pub mod account;
pub mod agents;
pub mod audit;
pub mod deployment;
pub mod history;
pub mod insights;
pub mod lazy;
pub mod matrix;
pub mod new_project;
pub mod notifications;
pub mod release;
pub mod settings;
pub mod sign_in;
pub mod users;
