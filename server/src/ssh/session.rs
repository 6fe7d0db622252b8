//! One SSH connection to a host, maybe through a jump host: the host must present the
//! key Ferry trusts for it (never trust on first use), Ferry signs in with its own key,
//! and every step of a deployment opens a channel on this one connection.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle, Msg};
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{Channel, ChannelStream};

/// Where and as whom to connect, and the host key to expect (an OpenSSH public key
/// line, as in `known_hosts` without the host name); `None` until someone trusts one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub address: String,
    pub port: u16,
    pub user: String,
    pub host_key: Option<String>,
}

impl Endpoint {
    pub fn label(&self) -> String {
        format!("{}@{}:{}", self.user, self.address, self.port)
    }
}

/// A host and, when it is only reachable through one, its jump host.
#[derive(Debug, Clone)]
pub struct Route {
    pub host: Endpoint,
    pub jump: Option<Endpoint>,
}

/// How long a connection may take, and how a dead one is noticed.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub connect: Duration,
    /// A keepalive is sent after this long without traffic...
    pub keepalive: Duration,
    /// ...and the connection is given up after this many go unanswered.
    pub keepalive_max: usize,
}

impl Default for Timing {
    fn default() -> Self {
        Timing { connect: Duration::from_secs(10), keepalive: Duration::from_secs(5), keepalive_max: 3 }
    }
}

/// Why a connection could not be made.
#[derive(Debug, Clone)]
pub enum ConnectError {
    /// Nothing answered, or the address is wrong.
    Unreachable {
        endpoint: String,
        why: String,
    },
    /// No host key is trusted for it yet: the presented key, for someone to check.
    Untrusted {
        endpoint: String,
        presented: PublicKey,
    },
    /// It presented another key than the trusted one.
    Changed {
        endpoint: String,
        presented: PublicKey,
        trusted: String,
    },
    /// It does not accept Ferry's key for this user.
    Refused {
        endpoint: String,
    },
    Other {
        endpoint: String,
        why: String,
    },
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Unreachable { endpoint, why } => write!(f, "cannot reach {endpoint}: {why}"),
            ConnectError::Untrusted { endpoint, presented } => write!(
                f,
                "no host key is trusted for {endpoint} yet; it presents {}: check the connection in Settings and \
                 trust it if that is the host's key",
                fingerprint(presented)
            ),
            ConnectError::Changed { endpoint, presented, trusted } => write!(
                f,
                "the host key of {endpoint} changed: it presents {}, but Ferry trusts {}. Refusing to connect: \
                 if the host was reinstalled, check and trust its new key; otherwise the connection may be \
                 intercepted",
                fingerprint(presented),
                trusted_fingerprint(trusted)
            ),
            ConnectError::Refused { endpoint } => write!(
                f,
                "{endpoint} refused Ferry's key: add Ferry's public key (Settings → SSH) to the user's \
                 ~/.ssh/authorized_keys"
            ),
            ConnectError::Other { endpoint, why } => write!(f, "{endpoint}: {why}"),
        }
    }
}

/// A key's SHA-256 fingerprint, as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// The fingerprint of a stored public key line.
pub fn trusted_fingerprint(line: &str) -> String {
    parse_public_key(line).map(|k| fingerprint(&k)).unwrap_or_else(|_| "an unreadable key".into())
}

/// An OpenSSH public key line (`type base64 [comment]`), or a `known_hosts` line
/// (`hosts type base64`), read as a key.
pub fn parse_public_key(line: &str) -> Result<PublicKey, String> {
    let line = line.trim();
    if let Ok(key) = PublicKey::from_openssh(line) {
        return Ok(key);
    }
    // known_hosts: the host names come first.
    match line.split_once(char::is_whitespace) {
        Some((_, rest)) => PublicKey::from_openssh(rest.trim()).map_err(|e| format!("not an SSH public key: {e}")),
        None => Err("not an SSH public key".into()),
    }
}

/// Accepts only the trusted key, and remembers what was presented.
struct Pinned {
    trusted: Option<PublicKey>,
    presented: Arc<Mutex<Option<PublicKey>>>,
}

impl client::Handler for Pinned {
    type Error = russh::Error;

    async fn check_server_key(&mut self, server_key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = server_key else { return Ok(false) };
        *self.presented.lock().unwrap_or_else(|e| e.into_inner()) = Some(key.clone());
        Ok(self.trusted.as_ref().is_some_and(|trusted| trusted.key_data() == key.key_data()))
    }
}

/// An open, signed-in connection.
pub struct Session {
    handle: Handle<Pinned>,
    /// Kept open while the host is reached through it.
    _jump: Option<Handle<Pinned>>,
    pub endpoint: String,
}

impl Session {
    /// Connects along `route` and signs in with `key`.
    pub async fn connect(route: &Route, keys: &[Arc<PrivateKey>], timing: Timing) -> Result<Session, ConnectError> {
        let config = Arc::new(client::Config {
            keepalive_interval: Some(timing.keepalive),
            keepalive_max: timing.keepalive_max,
            nodelay: true,
            ..Default::default()
        });
        let host = &route.host;
        let (handle, jump) = match &route.jump {
            None => {
                let stream = tcp(host, timing.connect).await?;
                (handshake(host, stream, config, keys, timing.connect).await?, None)
            }
            Some(jump) => {
                let via =
                    handshake(jump, tcp(jump, timing.connect).await?, config.clone(), keys, timing.connect).await?;
                let tunnel = via
                    .channel_open_direct_tcpip(host.address.clone(), host.port as u32, "127.0.0.1", 0)
                    .await
                    .map_err(|e| ConnectError::Unreachable {
                        endpoint: host.label(),
                        why: format!("the jump host {} could not reach it ({e})", jump.label()),
                    })?;
                (handshake(host, tunnel.into_stream(), config, keys, timing.connect).await?, Some(via))
            }
        };
        Ok(Session { handle, _jump: jump, endpoint: host.label() })
    }

    /// Opens a channel running `command` (through the user's login shell, as sshd does).
    pub async fn exec(&self, command: &str) -> Result<Channel<Msg>, String> {
        let channel = self.handle.channel_open_session().await.map_err(|e| self.lost(e))?;
        channel.exec(true, command).await.map_err(|e| self.lost(e))?;
        Ok(channel)
    }

    /// A TCP connection from the host to `address:port` (a health check of `localhost`
    /// reaches the host's own port).
    pub async fn connect_from_host(&self, address: &str, port: u16) -> Result<ChannelStream<Msg>, russh::Error> {
        let channel = self.handle.channel_open_direct_tcpip(address, port as u32, "127.0.0.1", 0).await?;
        Ok(channel.into_stream())
    }

    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    pub async fn close(&self) {
        let _ = self.handle.disconnect(russh::Disconnect::ByApplication, "", "en").await;
    }

    fn lost(&self, e: russh::Error) -> String {
        format!("lost the connection to {}: {e}", self.endpoint)
    }
}

async fn tcp(endpoint: &Endpoint, timeout: Duration) -> Result<tokio::net::TcpStream, ConnectError> {
    let address = (endpoint.address.as_str(), endpoint.port);
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address)).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(e)) => Err(ConnectError::Unreachable { endpoint: endpoint.label(), why: e.to_string() }),
        Err(_) => Err(ConnectError::Unreachable {
            endpoint: endpoint.label(),
            why: format!("no answer within {}s", timeout.as_secs()),
        }),
    }
}

/// The SSH handshake over `stream`: the host key checked, then each key in turn until
/// one signs in.
async fn handshake<S>(
    endpoint: &Endpoint,
    stream: S,
    config: Arc<client::Config>,
    keys: &[Arc<PrivateKey>],
    timeout: Duration,
) -> Result<Handle<Pinned>, ConnectError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let label = endpoint.label();
    let trusted = match endpoint.host_key.as_deref().map(parse_public_key).transpose() {
        Ok(trusted) => trusted,
        Err(why) => return Err(ConnectError::Other { endpoint: label, why: format!("the trusted host key: {why}") }),
    };
    let presented = Arc::new(Mutex::new(None));
    let handler = Pinned { trusted: trusted.clone(), presented: presented.clone() };
    let signed_in = async {
        let mut handle = client::connect_stream(config, stream, handler).await?;
        let hash = handle.best_supported_rsa_hash().await?.flatten();
        for key in keys {
            let key = PrivateKeyWithHashAlg::new(key.clone(), hash);
            if handle.authenticate_publickey(endpoint.user.clone(), key).await?.success() {
                return Ok((handle, true));
            }
        }
        Ok::<_, russh::Error>((handle, false))
    };
    let outcome = tokio::time::timeout(timeout, signed_in).await;
    let seen = presented.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match outcome {
        Err(_) => Err(ConnectError::Unreachable {
            endpoint: label,
            why: format!("the SSH handshake did not finish within {}s", timeout.as_secs()),
        }),
        Ok(Ok((handle, true))) => Ok(handle),
        Ok(Ok((_, false))) => Err(ConnectError::Refused { endpoint: label }),
        Ok(Err(e)) => match (seen, trusted) {
            (Some(presented), None) => Err(ConnectError::Untrusted { endpoint: label, presented }),
            (Some(presented), Some(trusted)) if presented.key_data() != trusted.key_data() => {
                let trusted = endpoint.host_key.clone().unwrap_or_default();
                Err(ConnectError::Changed { endpoint: label, presented, trusted })
            }
            _ => Err(ConnectError::Other { endpoint: label, why: e.to_string() }),
        },
    }
}
