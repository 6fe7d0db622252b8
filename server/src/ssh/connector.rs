//! Connections to an environment's SSH hosts: the route to each (its jump host too),
//! the keys it signs in with (its own, or Ferry's), and how many deployments may use a
//! host at once.

use std::collections::HashMap;
use std::sync::Arc;

use russh::keys::PrivateKey;
use tokio::sync::{OnceCell, Semaphore};

use super::keys::{ferry_keys, host_key_context, parse_private};
use super::session::{ConnectError, Endpoint, Route, Session, Timing};
use crate::services::replica::Replica;
use crate::store::now_millis;
use crate::store::{SshHostRow, Store};
use crate::vault::Vault;

pub struct Connector {
    store: Store,
    vault: Arc<Vault>,
    pub timing: Timing,
    /// Deployments that may run on one host at once, counted over every replica (the
    /// others wait their turn).
    per_host: usize,
    /// Who holds the turns taken here, and how long one lasts unless renewed.
    replica: Replica,
}

/// A deployment's turn on a host, given back when dropped.
pub struct Turn {
    store: Store,
    host_id: i64,
    deployment_id: i64,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let (store, host, deployment) = (self.store.clone(), self.host_id, self.deployment_id);
        tokio::spawn(async move {
            if let Err(e) = store.release_ssh_turn(host, deployment).await {
                // It runs out with this replica's leases instead.
                tracing::error!(host, deployment, error = %e, "giving back a turn on an SSH host");
            }
        });
    }
}

impl Connector {
    pub fn new(store: Store, vault: Arc<Vault>, timing: Timing, per_host: usize, replica: Replica) -> Self {
        Connector { store, vault, timing, per_host: per_host.max(1), replica }
    }

    /// Waits for a turn on the host for the deployment. The turn is in the database
    /// (renewed with this replica's leases), so the limit holds across replicas; a
    /// full host is asked again after a jittered wait.
    pub async fn turn(&self, host_id: i64, deployment_id: i64) -> Turn {
        let mut attempts = 0;
        loop {
            let ttl = self.replica.lease.as_millis() as i64;
            let asked = self.store.claim_ssh_turn(
                host_id,
                deployment_id,
                &self.replica.id,
                now_millis(),
                ttl,
                self.per_host as i64,
            );
            match asked.await {
                Ok(true) => return Turn { store: self.store.clone(), host_id, deployment_id },
                Ok(false) => {}
                Err(e) => tracing::error!(host = host_id, error = %e, "asking for a turn on an SSH host"),
            }
            attempts += 1;
            tokio::time::sleep(crate::jobs::backoff(attempts, TURN_WAIT)).await;
        }
    }

    /// Connects to the host and signs in.
    pub async fn connect(&self, host: &SshHostRow) -> Result<Session, String> {
        let route = route(host).map_err(|why| format!("{}: {why}", host.name))?;
        let keys = self.keys(host).await?;
        Session::connect(&route, &keys, self.timing).await.map_err(|e| e.to_string())
    }

    /// Connects for a check: what went wrong is kept whole, for the page to explain.
    pub async fn try_connect(&self, host: &SshHostRow) -> Result<Session, ConnectError> {
        let endpoint = format!("{}@{}:{}", host.login, host.address, host.port);
        let route = route(host).map_err(|why| ConnectError::Other { endpoint: endpoint.clone(), why })?;
        let keys = self.keys(host).await.map_err(|why| ConnectError::Other { endpoint, why })?;
        Session::connect(&route, &keys, self.timing).await
    }

    /// The host's own key when it has one, else Ferry's (newest first).
    async fn keys(&self, host: &SshHostRow) -> Result<Vec<Arc<PrivateKey>>, String> {
        if let Some(sealed) = &host.sealed_private_key {
            let text = self.vault.open_value(&host_key_context(host.id), sealed)?;
            return Ok(vec![Arc::new(parse_private(&text)?)]);
        }
        Ok(ferry_keys(&self.store, &self.vault).await?.into_iter().map(|(_, key)| key).collect())
    }
}

/// One deployment's connections to its SSH hosts: each opened once, for every step
/// of that host, and all of them started at once when the rollout starts (each
/// handshake overlaps the batches before its host's).
#[derive(Clone, Default)]
pub struct SshConnections {
    hosts: Arc<HashMap<i64, Arc<OnceCell<Connected>>>>,
}

/// A host's settings and its open connection, or why there is none.
type Connected = Result<(SshHostRow, Arc<Session>), String>;

/// The longest wait between two asks for a turn on a full host.
const TURN_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Handshakes in flight at once when a rollout starts.
const CONNECTING_AT_ONCE: usize = 32;

impl SshConnections {
    pub fn for_hosts(ids: impl IntoIterator<Item = i64>) -> Self {
        SshConnections { hosts: Arc::new(ids.into_iter().map(|id| (id, Arc::default())).collect()) }
    }

    /// Starts connecting to every host, in the background.
    pub fn connect_all(&self, connector: &Arc<Connector>) {
        let limit = Arc::new(Semaphore::new(CONNECTING_AT_ONCE));
        for &id in self.hosts.keys() {
            let (this, connector, limit) = (self.clone(), connector.clone(), limit.clone());
            tokio::spawn(async move {
                let _permit = limit.acquire_owned().await;
                let _ = this.session(&connector, id).await;
            });
        }
    }

    /// The host's settings and connection, opened now unless it already is.
    pub async fn session(&self, connector: &Connector, id: i64) -> Result<(SshHostRow, Arc<Session>), String> {
        let Some(cell) = self.hosts.get(&id) else {
            return Err(format!("SSH host #{id} is not one of this deployment's"));
        };
        cell.get_or_init(|| async {
            let row = match connector.store.ssh_host(id).await {
                Ok(Some(row)) => row,
                Ok(None) => return Err(format!("SSH host #{id} was removed")),
                Err(e) => return Err(format!("cannot read SSH host #{id}: {e}")),
            };
            let session = connector.connect(&row).await?;
            Ok((row, Arc::new(session)))
        })
        .await
        .clone()
    }

    /// Ends every connection opened (hosts skipped after a failure included).
    pub async fn close_all(&self) {
        for cell in self.hosts.values() {
            if let Some(Ok((_, session))) = cell.get() {
                session.close().await;
            }
        }
    }
}

/// How to reach the host: straight, or through its jump host.
pub fn route(host: &SshHostRow) -> Result<Route, String> {
    let target = Endpoint {
        address: host.address.clone(),
        port: host.port as u16,
        user: host.login.clone(),
        host_key: host.host_key.clone(),
    };
    let jump = match host.jump.as_deref().filter(|j| !j.trim().is_empty()) {
        None => None,
        Some(spec) => {
            let (user, address, port) = parse_jump(spec, &host.login)?;
            Some(Endpoint { address, port, user, host_key: host.jump_host_key.clone() })
        }
    };
    Ok(Route { host: target, jump })
}

/// `[user@]address[:port]` (an IPv6 address in brackets); the host's user and port 22
/// when left out.
pub fn parse_jump(spec: &str, default_user: &str) -> Result<(String, String, u16), String> {
    let spec = spec.trim();
    let (user, rest) = match spec.rsplit_once('@') {
        Some((user, rest)) if !user.is_empty() => (user.to_string(), rest),
        Some(_) => return Err(format!("jump host `{spec}`: the user before @ is empty")),
        None => (default_user.to_string(), spec),
    };
    let (address, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (address, after) = inner.split_once(']').ok_or_else(|| format!("jump host `{spec}`: no closing ]"))?;
        let port = match after.strip_prefix(':') {
            Some(port) => port.parse().map_err(|_| format!("jump host `{spec}`: bad port"))?,
            None if after.is_empty() => 22,
            None => return Err(format!("jump host `{spec}`: unexpected `{after}`")),
        };
        (address.to_string(), port)
    } else {
        match rest.rsplit_once(':') {
            Some((address, port)) => {
                (address.to_string(), port.parse().map_err(|_| format!("jump host `{spec}`: bad port `{port}`"))?)
            }
            None => (rest.to_string(), 22),
        }
    };
    if address.is_empty() || address.chars().any(char::is_whitespace) {
        return Err(format!("jump host `{spec}`: no address"));
    }
    Ok((user, address, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jump_host_reads_with_its_defaults() {
        assert_eq!(parse_jump("bastion", "deploy").unwrap(), ("deploy".into(), "bastion".into(), 22));
        assert_eq!(parse_jump("ops@10.0.0.1:2222", "deploy").unwrap(), ("ops".into(), "10.0.0.1".into(), 2222));
        assert_eq!(parse_jump("[::1]:2200", "d").unwrap(), ("d".into(), "::1".into(), 2200));
        assert!(parse_jump("a:b", "d").is_err());
        assert!(parse_jump("@x", "d").is_err());
        assert!(parse_jump("", "d").is_err());
    }
}
