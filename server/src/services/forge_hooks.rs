//! Webhooks from GitHub and GitLab. The request is authenticated before its body is
//! parsed: GitHub's `X-Hub-Signature-256` (HMAC-SHA256 of the raw body) or GitLab's
//! `X-Gitlab-Token` is checked, in constant time, against each linked project's
//! secret, which also says which project it is for. A delivery id is handled once; the
//! answer comes at once and the work (release, deployment) happens after.

use axum::http::HeaderMap;
use ferry_app::error::AppError;
use ferry_app::model::{DeployRequest, ForgeKind};
use ferry_engine::pipeline::ForgeEvent;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::catalog;
use super::deployer::Requester;
use super::forge_events::{self, Incoming, What};
use crate::auth::secrets::{constant_time_eq, from_hex};
use crate::error::OrInternal;
use crate::state::AppState;
use crate::store::ForgeLinkRow;

/// What the forge is told.
#[derive(Debug, Clone, PartialEq)]
pub enum HookAnswer {
    /// Taken; the work goes on after the answer.
    Accepted,
    /// This delivery was handled before.
    Duplicate,
    /// Nothing to do, and why.
    Ignored(String),
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The project whose secret signed (GitHub) or accompanies (GitLab) this body.
async fn authenticate(
    s: &AppState,
    forge: ForgeKind,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<ForgeLinkRow, AppError> {
    let links = s.store.forge_links(forge).await.or_internal("reading forge links")?;
    let refused = || AppError::unauthenticated("the webhook's signature or token matches no linked project");
    let secret_of = |link: &ForgeLinkRow| s.vault.open_value(&secret_context(link.project_id), &link.sealed_secret);
    match forge {
        ForgeKind::Github => {
            let signature = header(headers, "x-hub-signature-256")
                .and_then(|v| v.strip_prefix("sha256="))
                .and_then(from_hex)
                .ok_or_else(|| AppError::unauthenticated("X-Hub-Signature-256 is missing or not `sha256=<hex>`"))?;
            links
                .into_iter()
                .find(|link| {
                    secret_of(link).is_ok_and(|secret| {
                        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("any key length");
                        mac.update(body);
                        mac.verify_slice(&signature).is_ok()
                    })
                })
                .ok_or_else(refused)
        }
        ForgeKind::Gitlab => {
            let token = header(headers, "x-gitlab-token")
                .ok_or_else(|| AppError::unauthenticated("X-Gitlab-Token is missing"))?;
            links
                .into_iter()
                .find(|link| secret_of(link).is_ok_and(|secret| constant_time_eq(secret.as_bytes(), token.as_bytes())))
                .ok_or_else(refused)
        }
    }
}

/// The vault binds a project's webhook secret to the project.
pub fn secret_context(project_id: i64) -> String {
    format!("forge-secret:{project_id}")
}

/// Checks, records and answers a webhook; the release and deployment follow in the
/// background.
pub async fn receive(s: &AppState, forge: ForgeKind, headers: &HeaderMap, body: &[u8]) -> Result<HookAnswer, AppError> {
    let link = authenticate(s, forge, headers, body).await?;
    let (event_header, delivery_header) = match forge {
        ForgeKind::Github => ("x-github-event", vec!["x-github-delivery"]),
        ForgeKind::Gitlab => ("x-gitlab-event", vec!["idempotency-key", "x-gitlab-event-uuid"]),
    };
    let event =
        header(headers, event_header).ok_or_else(|| AppError::bad_request(format!("{event_header} is missing")))?;
    let delivery = delivery_header
        .iter()
        .find_map(|h| header(headers, h))
        .filter(|d| !d.is_empty() && d.len() <= 200)
        .ok_or_else(|| AppError::bad_request(format!("{} is missing", delivery_header[0])))?;
    let body: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| AppError::bad_request(format!("the body is not JSON: {e}")))?;
    let incoming = match forge {
        ForgeKind::Github => forge_events::github(event, &body),
        ForgeKind::Gitlab => forge_events::gitlab(event, &body),
    }
    .map_err(AppError::bad_request)?;
    if !incoming.repo.eq_ignore_ascii_case(&link.repo) {
        let message = format!("the webhook is about `{}`, but its secret is `{}`'s", incoming.repo, link.repo);
        return Err(AppError::unprocessable(message));
    }
    if !s
        .store
        .record_forge_delivery(forge, delivery, link.project_id, event)
        .await
        .or_internal("recording a delivery")?
    {
        return Ok(HookAnswer::Duplicate);
    }
    if let What::Ignored(why) = &incoming.what {
        s.store
            .set_forge_delivery_outcome(forge, delivery, &format!("ignored: {why}"))
            .await
            .or_internal("recording")?;
        return Ok(HookAnswer::Ignored(why.clone()));
    }
    let (s, delivery) = (s.clone(), delivery.to_string());
    tokio::spawn(async move {
        let outcome = match act(&s, forge, &link, &incoming).await {
            Ok(outcome) => outcome,
            Err(e) => format!("failed: {}", e.message),
        };
        tracing::info!(forge = forge.as_str(), delivery, outcome, "webhook handled");
        if let Err(e) = s.store.set_forge_delivery_outcome(forge, &delivery, &outcome).await {
            tracing::error!(error = %e, "recording a webhook's outcome");
        }
    });
    Ok(HookAnswer::Accepted)
}

/// Makes the release the event calls for (once per repository, ref, commit and
/// event) and starts the deployments its triggers name.
async fn act(s: &AppState, forge: ForgeKind, link: &ForgeLinkRow, incoming: &Incoming) -> Result<String, AppError> {
    let What::Event { event, commit, actor } = &incoming.what else { return Ok("ignored".into()) };
    let (kind, reference) = match event {
        ForgeEvent::Push { branch } => ("push", branch),
        ForgeEvent::Tag { name } => ("tag", name),
        ForgeEvent::CiPassed { branch, .. } => ("ci", branch),
    };
    let key = format!("{}:{}:{kind}:{reference}:{commit}", forge.as_str(), link.repo.to_ascii_lowercase());
    if !s.store.claim_forge_trigger(&key, link.project_id).await.or_internal("claiming a trigger")? {
        return Ok("duplicate event: it made its release already".into());
    }
    let made = make_release(s, forge, link, event, commit, actor, kind, reference).await;
    if made.is_err() {
        // Nothing was made: a redelivery of the event may try again.
        if let Err(e) = s.store.release_forge_trigger(&key).await {
            tracing::error!(error = %e, "giving back a trigger claim");
        }
    }
    made
}

/// The release for a claimed event, and the deployments its triggers start.
#[allow(clippy::too_many_arguments)]
async fn make_release(
    s: &AppState,
    forge: ForgeKind,
    link: &ForgeLinkRow,
    event: &ForgeEvent,
    commit: &str,
    actor: &str,
    kind: &str,
    reference: &str,
) -> Result<String, AppError> {
    let project = s.store.project(link.project_id).await.or_internal("loading a project")?;
    let project = project.ok_or_else(|| AppError::not_found("the linked project is gone"))?;
    let authorization = s.notifier.forges().git_authorization(link);
    crate::git::fetch(&project.repo_url, commit, authorization.as_deref()).await;
    let (pipeline, _) = catalog::pipeline_at(&project.repo_url, commit).await?;
    let firing: Vec<_> = pipeline.triggers.iter().filter(|t| t.fires_on(event)).collect();
    if firing.is_empty() {
        return Ok(format!("no trigger of ferry.yml fires on this {kind} of `{reference}`"));
    }
    let version = match event {
        ForgeEvent::Tag { name } | ForgeEvent::CiPassed { branch: name, tag: true } => name.clone(),
        _ => format!("{}-{}", reference.replace(['/', ' '], "-"), &commit[..7]),
    };
    let source = format!("{} {kind} by {actor}", forge.as_str());
    let release = match catalog::create_release(&s.store, &project, &version, commit, &source, Some(reference)).await {
        Ok(release) => release,
        Err(e) if e.error == ferry_app::error::ErrorCode::Conflict => {
            let existing = s.store.releases(project.id).await.or_internal("listing releases")?;
            let row = existing.into_iter().find(|r| r.version == version).ok_or(e)?;
            row.view()
        }
        Err(e) => return Err(e),
    };
    let mut outcome = format!("release {version}");
    let by = Requester { id: None, login: format!("{}:{actor}", forge.as_str()) };
    for environment in firing.iter().filter_map(|t| t.deploy.as_ref()) {
        let request = DeployRequest {
            project: project.slug.clone(),
            release_id: release.id,
            environment: environment.as_str().to_string(),
            allow_older: false,
            freeze_override: None,
        };
        match s.deployer.start(request, &by).await {
            Ok(d) => outcome.push_str(&format!("; deployment {} to {}", d.id, environment.as_str())),
            Err(e) => outcome.push_str(&format!("; not deployed to {}: {}", environment.as_str(), e.message)),
        }
    }
    Ok(outcome)
}
