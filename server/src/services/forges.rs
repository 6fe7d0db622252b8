//! Linking a project to its GitHub or GitLab repository (maintainers): the link names
//! the repository and holds the webhook secret, sealed; the secret is shown once. An
//! API token, checked against the repository first, lets Ferry report deployments,
//! fetch a private repository and create the webhook itself.

use ferry_app::error::AppError;
use ferry_app::model::{ForgeLinkView, ForgeLinked, LinkForge, Role};
use serde_json::json;

use super::forge_hooks::secret_context;
use super::Handles;
use super::{audit, gate};
use crate::auth::secrets::random_text;
use crate::auth::Caller;
use crate::error::OrInternal;

pub async fn link(s: &Handles, c: &Caller, slug: &str, wanted: &LinkForge) -> Result<ForgeLinked, AppError> {
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
    let token = wanted.token.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let sealed_token = match token {
        Some(token) => Some(checked_token(s, wanted, token).await.and_then(|()| {
            s.notifier.forges().seal_token(project.id, token).map_err(|e| {
                tracing::error!(error = %e, "sealing a forge token");
                AppError::internal()
            })
        })?),
        None if wanted.create_hook => {
            return Err(AppError::bad_request("create_hook: Ferry needs a token to create the webhook"))
        }
        None => None,
    };
    if let (true, Some(token)) = (wanted.create_hook, token) {
        let forges = s.notifier.forges();
        forges.create_hook(wanted.forge, &wanted.repo, token, &secret).await.map_err(|why| {
            AppError::unprocessable(format!("create_hook: {} did not create the webhook: {why}", forge_name(wanted)))
        })?;
    }
    let link = (project.id, wanted.forge, wanted.repo.as_str());
    s.store
        .set_forge_link(link.0, link.1, link.2, &sealed, sealed_token.as_deref())
        .await
        .or_internal("linking a forge")?;
    let detail = json!({
        "forge": wanted.forge, "repo": wanted.repo, "token": token.is_some(), "create_hook": wanted.create_hook,
    });
    audit::record(&s.store, c, "project.link_forge", slug, detail).await;
    let link = s.store.forge_link(project.id).await.or_internal("reading a forge link")?;
    let link = link.ok_or_else(|| AppError::not_found("the link vanished"))?.view(s.notifier.base_url());
    Ok(ForgeLinked { link, secret })
}

pub async fn get(s: &Handles, c: &Caller, slug: &str) -> Result<Option<ForgeLinkView>, AppError> {
    let project = gate::project(s, c, slug, Role::Viewer, "viewing the linked repository").await?;
    let Some(link) = s.store.forge_link(project.id).await.or_internal("reading a forge link")? else {
        return Ok(None);
    };
    let mut view = link.view(s.notifier.base_url());
    view.reports = s.store.forge_reports(project.id, 10).await.or_internal("reading forge reports")?;
    Ok(Some(view))
}

/// A token is kept only once the forge has shown it can see the repository.
async fn checked_token(s: &Handles, wanted: &LinkForge, token: &str) -> Result<(), AppError> {
    if token.len() > 500 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AppError::bad_request("token: not an API token (up to 500 characters, no spaces)"));
    }
    s.notifier.forges().check_access(wanted.forge, &wanted.repo, token).await.map_err(|why| {
        AppError::unprocessable(format!("token: {} refused it for `{}`: {why}", forge_name(wanted), wanted.repo))
    })
}

fn forge_name(wanted: &LinkForge) -> &'static str {
    wanted.forge.title()
}

pub async fn unlink(s: &Handles, c: &Caller, slug: &str) -> Result<(), AppError> {
    let project = gate::project(s, c, slug, Role::Maintainer, "unlinking a repository").await?;
    if !s.store.remove_forge_link(project.id).await.or_internal("unlinking a forge")? {
        return Err(AppError::not_found(format!("project `{slug}` is linked to no repository")));
    }
    audit::record(&s.store, c, "project.unlink_forge", slug, json!({})).await;
    Ok(())
}
