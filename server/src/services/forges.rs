//! Linking a project to its GitHub or GitLab repository (maintainers): the link names
//! the repository and holds the webhook secret, sealed; the secret is shown once.

use ferry_app::error::AppError;
use ferry_app::model::{ForgeLinkView, ForgeLinked, LinkForge, Role};
use serde_json::json;

use super::forge_hooks::secret_context;
use super::{audit, gate};
use crate::auth::secrets::random_text;
use crate::auth::Caller;
use crate::error::OrInternal;
use crate::state::AppState;

pub async fn link(s: &AppState, c: &Caller, slug: &str, wanted: &LinkForge) -> Result<ForgeLinked, AppError> {
    let project = gate::project(s, c, slug, Role::Maintainer, "linking a repository").await?;
    wanted.forge.check_repo(&wanted.repo).map_err(AppError::bad_request)?;
    let secret = match wanted.secret.as_deref().map(str::trim) {
        Some(secret) if secret.len() < 16 || secret.len() > 200 => {
            return Err(AppError::bad_request("secret: use 16 to 200 characters, or leave it out for one made here"))
        }
        Some(secret) => secret.to_string(),
        None => random_text(32),
    };
    let sealed = s.vault.seal(&secret_context(project.id), &secret).map_err(|e| {
        tracing::error!(error = %e, "sealing a webhook secret");
        AppError::internal()
    })?;
    s.store.set_forge_link(project.id, wanted.forge, &wanted.repo, &sealed).await.or_internal("linking a forge")?;
    let detail = json!({"forge": wanted.forge, "repo": wanted.repo});
    audit::record(&s.store, c, "project.link_forge", slug, detail).await;
    let link = s.store.forge_link(project.id).await.or_internal("reading a forge link")?;
    let link = link.ok_or_else(|| AppError::not_found("the link vanished"))?.view(s.notifier.base_url());
    Ok(ForgeLinked { link, secret })
}

pub async fn get(s: &AppState, c: &Caller, slug: &str) -> Result<Option<ForgeLinkView>, AppError> {
    let project = gate::project(s, c, slug, Role::Viewer, "viewing the linked repository").await?;
    let link = s.store.forge_link(project.id).await.or_internal("reading a forge link")?;
    Ok(link.map(|l| l.view(s.notifier.base_url())))
}

pub async fn unlink(s: &AppState, c: &Caller, slug: &str) -> Result<(), AppError> {
    let project = gate::project(s, c, slug, Role::Maintainer, "unlinking a repository").await?;
    if !s.store.remove_forge_link(project.id).await.or_internal("unlinking a forge")? {
        return Err(AppError::not_found(format!("project `{slug}` is linked to no repository")));
    }
    audit::record(&s.store, c, "project.unlink_forge", slug, json!({})).await;
    Ok(())
}
