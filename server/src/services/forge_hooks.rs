//! Webhooks from GitHub and GitLab. The request is authenticated before its body is
//! parsed: GitHub's `X-Hub-Signature-256` (HMAC-SHA256 of the raw body) or GitLab's
//! `X-Gitlab-Token` is checked, in constant time, against each linked project's
//! secret, which also says which project it is for. A delivery id is handled once; the
//! answer comes at once and the work (release, deployment) happens after, as the
//! triggers of the default branch's ferry.yml (never the pushed commit's) say. Pull
//! and merge requests open, update and close previews (`previews.rs`).

use axum::http::HeaderMap;
use ferry_app::error::AppError;
use ferry_app::model::{DeployRequest, ForgeKind};
use ferry_engine::pipeline::ForgeEvent;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::catalog;
use super::deployer::Requester;
use super::forge_events::{self, Incoming, What};
use super::Handles;
use crate::auth::secrets::constant_time_eq;
use crate::error::OrInternal;
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
    s: &Handles,
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
                .and_then(|hex| hex::decode(hex).ok())
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
pub async fn receive(s: &Handles, forge: ForgeKind, headers: &HeaderMap, body: &[u8]) -> Result<HookAnswer, AppError> {
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
    let ignored = match &incoming.what {
        What::Ignored(why) => Some(why.clone()),
        What::Request(_) | What::Event { .. } => None,
    };
    if let Some(why) = &ignored {
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
async fn act(s: &Handles, forge: ForgeKind, link: &ForgeLinkRow, incoming: &Incoming) -> Result<String, AppError> {
    let (event, commit, actor) = match &incoming.what {
        What::Event { event, commit, actor } => (event, commit, actor),
        What::Request(request) => {
            return super::previews::on_request(s, forge, link, incoming.default_branch.as_deref(), request).await
        }
        What::Ignored(_) => return Ok("ignored".into()),
    };
    let Some(default_branch) = incoming.default_branch.as_deref().filter(|b| !b.is_empty()) else {
        return Err(AppError::unprocessable(
            "the payload names no default branch, whose ferry.yml decides the triggers: nothing was started",
        ));
    };
    let (kind, reference) = match event {
        ForgeEvent::Push { branch } => ("push", branch),
        ForgeEvent::Tag { name } => ("tag", name),
        ForgeEvent::CiPassed { branch, .. } => ("ci", branch),
    };
    let key = format!("{}:{}:{kind}:{reference}:{commit}", forge.as_str(), link.repo.to_ascii_lowercase());
    if !s.store.claim_forge_trigger(&key, link.project_id).await.or_internal("claiming a trigger")? {
        return Ok("duplicate event: it made its release already".into());
    }
    let event = Event { event, commit, actor, kind, reference, default_branch, before: incoming.before.as_deref() };
    let made = make_release(s, forge, link, &event).await;
    if made.is_err() {
        // Nothing was made: a redelivery of the event may try again.
        if let Err(e) = s.store.release_forge_trigger(&key).await {
            tracing::error!(error = %e, "giving back a trigger claim");
        }
    }
    made
}

/// A claimed event, as [`make_release`] needs it.
struct Event<'a> {
    event: &'a ForgeEvent,
    commit: &'a str,
    actor: &'a str,
    /// `push`, `tag` or `ci`.
    kind: &'a str,
    /// The branch or tag.
    reference: &'a str,
    default_branch: &'a str,
    before: Option<&'a str>,
}

/// The commit whose ferry.yml holds the triggers for this event, and how to name it:
/// the repository's default branch, as fetched from the forge, never the event's own
/// commit (whoever pushes a branch must not decide where it deploys, nor drop
/// `wait_for_ci`, by editing ferry.yml in what they push). An event on the default
/// branch itself is judged by the default branch as it was before its commit arrived:
/// for a push the commit it replaced (`before`, so a push that creates the default
/// branch starts nothing), for CI the `before` its payload names or else the branch's
/// first-parent line before the commit. A change to the triggers thus applies from
/// the next push on.
async fn triggers_commit(
    s: &Handles,
    repo: &str,
    link: &ForgeLinkRow,
    e: &Event<'_>,
) -> Result<(String, String), AppError> {
    let authorization = s.notifier.forges().git_authorization(link);
    let default = e.default_branch;
    let tip = crate::git::fetch_branch(repo, default, authorization.as_deref())
        .await
        .map_err(|why| AppError::unprocessable(format!("the default branch `{default}`: {why}")))?;
    let on_default = match e.event {
        ForgeEvent::Push { branch } | ForgeEvent::CiPassed { branch, tag: false } => branch == default,
        _ => false,
    };
    if !on_default {
        return Ok((tip.clone(), format!("`{default}` at {}", &tip[..7])));
    }
    let before = match (e.before, e.event) {
        (Some(before), _) => {
            crate::git::fetch(repo, before, authorization.as_deref()).await;
            Some(before.to_string())
        }
        (None, ForgeEvent::Push { .. }) => None,
        (None, _) => crate::git::before_arrival(repo, &tip, e.commit).await,
    };
    let before = before.ok_or_else(|| {
        AppError::unprocessable(format!(
            "`{default}` had no commit before {}, so no ferry.yml of the default branch decides its triggers: \
             nothing was started",
            &e.commit[..7]
        ))
    })?;
    let named = format!("`{default}` before {}, at {}", &e.commit[..7], &before[..before.len().min(7)]);
    Ok((before, named))
}

/// The release for a claimed event, and the deployments its triggers start.
async fn make_release(s: &Handles, forge: ForgeKind, link: &ForgeLinkRow, e: &Event<'_>) -> Result<String, AppError> {
    let Event { event, commit, actor, kind, reference, .. } = *e;
    let project = s.store.project(link.project_id).await.or_internal("loading a project")?;
    let project = project.ok_or_else(|| AppError::not_found("the linked project is gone"))?;
    super::imports::refresh(s, &project).await;
    let authorization = s.notifier.forges().git_authorization(link);
    crate::git::fetch(&project.repo_url, commit, authorization.as_deref()).await;
    let (at, named) = triggers_commit(s, &project.repo_url, link, e).await?;
    let (rules, _) = catalog::pipeline_at(&project.repo_url, &at).await.map_err(|why| {
        AppError::unprocessable(format!(
            "the default branch has no valid ferry.yml ({named}), so nothing was started: {}",
            why.message
        ))
    })?;
    let firing: Vec<_> = rules.triggers.iter().filter(|t| t.fires_on(event)).collect();
    if firing.is_empty() {
        return Ok(format!("no trigger of ferry.yml ({named}) fires on this {kind} of `{reference}`"));
    }
    let version = match event {
        ForgeEvent::Tag { name } | ForgeEvent::CiPassed { branch: name, tag: true } => name.clone(),
        _ => format!("{}-{}", reference.replace(['/', ' '], "-"), &commit[..7]),
    };
    // The release keeps the commit's own pipeline: its build and deploy steps.
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
