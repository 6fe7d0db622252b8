//! Hosts an environment deploys to over SSH, and Ferry's own SSH key, as the Settings
//! page and the API show them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Ferry's public key: what a host's `~/.ssh/authorized_keys` gets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SshKeyView {
    /// The OpenSSH public key line.
    pub public_key: String,
    /// Its SHA-256 fingerprint, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    pub created_at: DateTime<Utc>,
    /// The key it replaced, which still signs in until the next rotation.
    pub previous: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SshHostView {
    pub id: i64,
    pub environment_id: i64,
    /// How the timeline names it.
    pub name: String,
    pub address: String,
    pub port: u16,
    /// The user Ferry signs in as; steps run as this user.
    pub user: String,
    /// Releases go to `<deploy_dir>/<project>/<environment>/releases/<id>/`.
    pub deploy_dir: String,
    /// A jump host, as `user@address:port`.
    pub jump: Option<String>,
    /// The fingerprint of the host key Ferry trusts; none until someone trusts one.
    pub host_key: Option<String>,
    pub jump_host_key: Option<String>,
    /// Variables its steps get, over the environment's.
    pub vars: BTreeMap<String, String>,
    /// It signs in with a private key of its own (never shown) rather than Ferry's.
    pub own_key: bool,
}

/// A new SSH host, or the new settings of one (then `private_key` empty keeps its key,
/// and `known_hosts` empty keeps the trusted host key).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SshHostRequest {
    pub name: String,
    pub address: String,
    #[serde(default)]
    pub port: Option<u16>,
    pub user: String,
    /// Default `/srv/ferry`.
    #[serde(default)]
    pub deploy_dir: Option<String>,
    /// `user@address:port` (user and port optional: the host's).
    #[serde(default)]
    pub jump: Option<String>,
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// An OpenSSH private key to sign in with instead of Ferry's (kept sealed).
    #[serde(default)]
    pub private_key: Option<String>,
    /// The host's key as `known_hosts` or `ssh-keyscan` prints it, or a public key
    /// line: trusted at once, without a check.
    #[serde(default)]
    pub known_hosts: Option<String>,
}

/// What a connection check saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SshCheckView {
    /// Whether Ferry signed in and ran a command there.
    pub ok: bool,
    /// The key the host presented (an OpenSSH public key line), to trust.
    pub presented_key: Option<String>,
    pub presented_fingerprint: Option<String>,
    /// Whether that is the key Ferry trusts.
    pub trusted: bool,
    /// Whether what it says is about the jump host (its key is the one to trust).
    pub jump: bool,
    /// What happened, in words.
    pub message: String,
}

/// Trusts the host key a check showed: the key line, so that what is trusted is
/// exactly what the person saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrustHostKey {
    pub host_key: String,
    /// Trust the jump host's key instead.
    #[serde(default)]
    pub jump: bool,
}
