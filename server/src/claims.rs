//! Work that one replica at a time may do, claimed in the database: draining a
//! notification channel (in order, at the receiver's pace) or sending a project's forge
//! reports (in order). A claim is a lease, renewed by claiming again before each piece
//! of work; a replica that dies leaves it to expire, and another takes the work over
//! (the message it was sending may then go out twice: delivery is at least once).

use std::sync::Arc;
use std::time::Duration;

use crate::store::{now_millis, Store};

/// How long a claim lasts unrenewed: longer than any one send may take.
const TTL: Duration = Duration::from_secs(120);

#[derive(Clone)]
pub struct Claims {
    store: Store,
    /// This process's part (each in-process replica of the tests has its own).
    owner: Arc<str>,
}

impl Claims {
    pub fn new(store: Store) -> Self {
        Self { store, owner: crate::auth::secrets::random_text(16).into() }
    }

    /// Takes (or renews) the claim on `key`; false when another holds it.
    pub async fn claim(&self, key: &str) -> bool {
        match self.store.claim_work(key, &self.owner, now_millis(), TTL.as_millis() as i64).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::error!(key, error = %e, "claiming work");
                false
            }
        }
    }

    pub async fn release(&self, key: &str) {
        if let Err(e) = self.store.release_work(key, &self.owner).await {
            tracing::error!(key, error = %e, "releasing work");
        }
    }
}
