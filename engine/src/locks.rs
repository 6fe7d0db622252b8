//! One deployment per environment at a time: a deployment waits for its environment's
//! lock, so a second deployment queues behind the first instead of interleaving.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Held while a deployment runs on an environment; dropping it lets the next one in.
pub type EnvironmentGuard = OwnedMutexGuard<()>;

#[derive(Default, Clone)]
pub struct EnvironmentLocks {
    locks: Arc<Mutex<HashMap<i64, Arc<AsyncMutex<()>>>>>,
}

impl EnvironmentLocks {
    /// Waits (first come, first served) until no other deployment holds `environment`.
    pub async fn acquire(&self, environment: i64) -> EnvironmentGuard {
        let lock = {
            let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(environment).or_default().clone()
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn second_deployment_waits_for_the_first() {
        let locks = EnvironmentLocks::default();
        let first = locks.acquire(1).await;
        let other_env = tokio::time::timeout(Duration::from_millis(50), locks.acquire(2)).await;
        assert!(other_env.is_ok(), "another environment is not blocked");
        let waiting = tokio::spawn({
            let locks = locks.clone();
            async move { locks.acquire(1).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "same environment must wait");
        drop(first);
        tokio::time::timeout(Duration::from_secs(1), waiting).await.unwrap().unwrap();
    }
}
