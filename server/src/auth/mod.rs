//! Who is calling and what they may do. A `Caller` is built once per request, from an
//! API token or the browser session (`authenticate.rs`); every server function, REST
//! endpoint and websocket asks it before acting.

pub mod authenticate;
pub mod csrf;
pub mod flows;
pub mod passwords;
pub mod providers;
pub mod secrets;
pub mod session_store;
pub mod throttle;

use std::collections::HashMap;

use ferry_app::error::AppError;
use ferry_app::model::Role;

pub use authenticate::authenticate;

/// What an API token adds as limits on top of its owner's roles.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub id: i64,
    /// The highest role the token acts with, from its scopes.
    pub ceiling: Role,
    /// The only project the token may touch, when it is limited to one.
    pub project_id: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: i64,
    pub login: String,
    /// The user's role on every project.
    pub role: Role,
    /// Projects where a membership raises `role`.
    pub memberships: HashMap<i64, Role>,
    pub token: Option<TokenGrant>,
    /// The client's address, for the audit log.
    pub address: Option<String>,
    /// A browser session's forge API token (a GitHub or GitLab sign-in with `imports`).
    pub forge_token: Option<session_store::ForgeToken>,
}

impl Caller {
    /// The API token of this session's `forge` sign-in, if it keeps one good at `api`
    /// (the forge Ferry imports from: a token of another GitHub or GitLab never goes there).
    pub fn sign_in_token(
        &self,
        vault: &crate::vault::Vault,
        forge: ferry_app::model::ForgeKind,
        api: &str,
    ) -> Option<String> {
        let same = |a: &str| a.trim_end_matches('/').eq_ignore_ascii_case(api.trim_end_matches('/'));
        let kept = self.forge_token.as_ref().filter(|t| t.kind == forge && same(&t.api) && self.token.is_none())?;
        vault.open_value(&session_store::ForgeToken::context(self.user_id), &kept.sealed).ok()
    }

    /// The role this request acts with on a project.
    pub fn role_on(&self, project_id: i64) -> Role {
        let own = self.memberships.get(&project_id).copied().unwrap_or(Role::None).max(self.role);
        match &self.token {
            None => own,
            Some(t) if t.project_id.is_some_and(|p| p != project_id) => Role::None,
            Some(t) => own.min(t.ceiling),
        }
    }

    /// The role this request acts with on Ferry as a whole (creating projects, users,
    /// the audit log): the global role, limited by a token.
    pub fn global_role(&self) -> Role {
        match &self.token {
            None => self.role,
            Some(t) if t.project_id.is_some() => Role::None,
            Some(t) => self.role.min(t.ceiling),
        }
    }

    /// Whether every project is visible, so lists need no filtering.
    pub fn sees_everything(&self) -> bool {
        self.global_role() >= Role::Viewer
    }

    pub fn can_view(&self, project_id: i64) -> bool {
        self.role_on(project_id) >= Role::Viewer
    }

    /// Ok when the caller has at least `needed` on the project; `what` names the
    /// action in the refusal, e.g. "deploying".
    pub fn require(&self, project_id: i64, needed: Role, what: &str) -> Result<(), AppError> {
        refuse_below(self.role_on(project_id), needed, what, "on this project")
    }

    pub fn require_global(&self, needed: Role, what: &str) -> Result<(), AppError> {
        refuse_below(self.global_role(), needed, what, "in Ferry")
    }

    /// Some actions (creating tokens, signing out everywhere) need the person, not a token.
    pub fn require_session(&self, what: &str) -> Result<(), AppError> {
        match self.token {
            None => Ok(()),
            Some(_) => Err(AppError::forbidden(format!("{what} needs a signed-in browser session, not an API token"))),
        }
    }
}

fn refuse_below(have: Role, needed: Role, what: &str, place: &str) -> Result<(), AppError> {
    if have >= needed {
        return Ok(());
    }
    Err(AppError::forbidden(format!(
        "{what} needs the {} role {place}; this request has {}",
        needed.as_str(),
        have.as_str()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role, memberships: &[(i64, Role)], token: Option<TokenGrant>) -> Caller {
        Caller {
            user_id: 1,
            login: "alex".into(),
            role,
            memberships: memberships.iter().copied().collect(),
            token,
            address: None,
            forge_token: None,
        }
    }

    #[test]
    fn memberships_raise_the_global_role_on_their_project_only() {
        let c = caller(Role::Viewer, &[(7, Role::Deployer)], None);
        assert_eq!(c.role_on(7), Role::Deployer);
        assert_eq!(c.role_on(8), Role::Viewer);
        assert!(c.require(8, Role::Deployer, "deploying").is_err());
        let c = caller(Role::Maintainer, &[(7, Role::Viewer)], None);
        assert_eq!(c.role_on(7), Role::Maintainer, "a membership never lowers the global role");
    }

    #[test]
    fn a_token_never_grants_more_than_its_owner_or_its_scope() {
        let read = Some(TokenGrant { id: 1, ceiling: Role::Viewer, project_id: None });
        let c = caller(Role::Admin, &[], read);
        assert_eq!(c.role_on(3), Role::Viewer);
        assert_eq!(c.global_role(), Role::Viewer);
        let pinned = Some(TokenGrant { id: 2, ceiling: Role::Admin, project_id: Some(3) });
        let c = caller(Role::Deployer, &[], pinned);
        assert_eq!(c.role_on(3), Role::Deployer);
        assert_eq!(c.role_on(4), Role::None, "other projects are out of a pinned token's reach");
        assert_eq!(c.global_role(), Role::None);
        assert!(c.require_session("creating a token").is_err());
    }

    #[test]
    fn refusals_name_the_action_and_the_roles() {
        let c = caller(Role::Viewer, &[], None);
        let e = c.require(1, Role::Deployer, "deploying").unwrap_err();
        assert_eq!(e.error, ferry_app::error::ErrorCode::Forbidden);
        assert!(e.message.contains("deploying") && e.message.contains("deployer") && e.message.contains("viewer"));
    }
}
