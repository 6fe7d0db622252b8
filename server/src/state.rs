//! What every request handler shares.

use std::sync::Arc;

use crate::events::EventBus;
use crate::metrics::Metrics;
use crate::services::deployer::Deployer;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub bus: EventBus,
    pub deployer: Arc<Deployer>,
    pub metrics: Arc<Metrics>,
}
