//! Who is signed in and what they may do: roles, API tokens and the audit log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What someone may do on a project, in increasing order: each role includes the ones
/// before it. A user's global role applies to every project; a membership can raise
/// it on one project. `Admin` as a global role is the administrator of Ferry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    None,
    Viewer,
    Deployer,
    Maintainer,
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::None, Role::Viewer, Role::Deployer, Role::Maintainer, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::None => "none",
            Role::Viewer => "viewer",
            Role::Deployer => "deployer",
            Role::Maintainer => "maintainer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// What an API token may be used for; a token never grants more than its owner has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// Read projects, deployments, logs and insights.
    Read,
    /// Create releases, deploy, promote, roll back and cancel.
    Deploy,
    /// Create projects and manage members.
    Manage,
}

impl TokenScope {
    pub const ALL: [TokenScope; 3] = [TokenScope::Read, TokenScope::Deploy, TokenScope::Manage];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Deploy => "deploy",
            TokenScope::Manage => "manage",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The highest role a token with this scope acts with.
    pub fn ceiling(self) -> Role {
        match self {
            TokenScope::Read => Role::Viewer,
            TokenScope::Deploy => Role::Deployer,
            TokenScope::Manage => Role::Admin,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    /// `local`, `github`, `gitlab` or `oidc:<name>`.
    pub provider: String,
    pub login: String,
    pub name: String,
    pub email: Option<String>,
    /// The role on every project; `admin` administers Ferry.
    pub role: Role,
}

/// A way to sign in, as the sign-in page lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SignInOption {
    /// Used in `/auth/{id}/start`.
    pub id: String,
    pub label: String,
}

/// Who the browser is signed in as, and how one can sign in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub user: Option<UserView>,
    /// No sign-in provider is configured: only the local administrator exists.
    pub local_mode: bool,
    /// Whether the local password form is offered.
    pub password_sign_in: bool,
    pub providers: Vec<SignInOption>,
    /// The forge whose sign-in token this session keeps (a GitHub or GitLab sign-in
    /// with `imports` on): importing needs no pasted token then.
    #[serde(default)]
    pub forge_sign_in: Option<super::ForgeKind>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordSignIn {
    pub login: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    pub scopes: Vec<TokenScope>,
    /// Limit the token to one project (its slug).
    pub project: Option<String>,
    /// Days until it expires (1-365, default 90).
    pub expires_in_days: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    /// The first characters of the token, to tell tokens apart.
    pub prefix: String,
    pub scopes: Vec<TokenScope>,
    pub project: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

/// A new token: `token` is shown this once and never again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    pub token: String,
    pub details: TokenView,
}

/// Sets a user's role on one project (`none` removes the membership).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetMembership {
    pub user_id: i64,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    pub user: UserView,
    pub role: Role,
}

/// Sets a user's global role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRole {
    pub role: Role,
}

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// What changed, e.g. `{"before": …, "after": …}`.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub address: Option<String>,
}

/// Which audit entries to list, newest first; every field narrows the list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditQuery {
    pub actor: Option<String>,
    /// e.g. `deployment.start`, `token.create`, `sign_in.failed`.
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Entries older than this id (the next page).
    pub before: Option<i64>,
    /// 1-1000, default 100.
    pub limit: Option<i64>,
}
