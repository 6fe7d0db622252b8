//! Users, their global roles, and project memberships: who administers them and how
//! every change is recorded.

use ferry_app::error::AppError;
use ferry_app::model::{MemberView, Role, SetMembership, UserView};
use serde_json::json;

use super::Handles;
use super::{audit, gate};
use crate::auth::Caller;
use crate::error::OrInternal;

pub async fn users(s: &Handles, c: &Caller) -> Result<Vec<UserView>, AppError> {
    c.require_global(Role::Maintainer, "listing users")?;
    Ok(s.store.users().await.or_internal("listing users")?.iter().map(|u| u.view()).collect())
}

pub async fn set_role(s: &Handles, c: &Caller, id: i64, role: Role) -> Result<UserView, AppError> {
    c.require_global(Role::Admin, "changing a user's role")?;
    let user = s.store.user(id).await.or_internal("loading a user")?;
    let user = user.ok_or_else(|| AppError::not_found(format!("no user {id}")))?;
    if user.id == c.user_id && role < Role::Admin {
        return Err(AppError::conflict("you cannot take away your own administrator role"));
    }
    s.store.set_user_role(id, role).await.or_internal("setting a role")?;
    let detail = json!({"before": user.role, "after": role.as_str()});
    audit::record(&s.store, c, "user.role", &user.login, detail).await;
    Ok(UserView { role, ..user.view() })
}

pub async fn members(s: &Handles, c: &Caller, slug: &str) -> Result<Vec<MemberView>, AppError> {
    let project = gate::project(s, c, slug, Role::Viewer, "listing members").await?;
    let members = s.store.project_members(project.id).await.or_internal("listing members")?;
    Ok(members.into_iter().map(|(user, role)| MemberView { user: user.view(), role }).collect())
}

pub async fn set_member(s: &Handles, c: &Caller, slug: &str, change: &SetMembership) -> Result<(), AppError> {
    let project = gate::project(s, c, slug, Role::Maintainer, "managing members").await?;
    // Nobody hands out more than they have.
    c.require(project.id, change.role, "granting this role")?;
    let user = s.store.user(change.user_id).await.or_internal("loading a user")?;
    let user = user.ok_or_else(|| AppError::not_found(format!("no user {}", change.user_id)))?;
    s.store.set_membership(user.id, project.id, change.role).await.or_internal("setting a membership")?;
    let detail = json!({"user": user.login, "role": change.role.as_str()});
    audit::record(&s.store, c, "membership.set", slug, detail).await;
    Ok(())
}
