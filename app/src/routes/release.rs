//! A release: its commit, the changelog since the release before it, and where it
//! has been deployed (each environment's latest attempt, and every deployment).

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_params_map;

use crate::components::bad_mark::BadMarkPanel;
use crate::components::{deployment_state_text, format_time, short_commit, StateBadge};
use crate::live::on_live_event;
use crate::model::{EventPayload, ReleaseDetail, ReleaseView};
use crate::server_fns::load_release;

#[component]
pub fn ReleasePage() -> impl IntoView {
    let params = use_params_map();
    let detail = RwSignal::new(None::<ReleaseDetail>);
    let error = RwSignal::new(None::<String>);
    let reload = RwSignal::new(0u32);
    Effect::new(move |_| {
        reload.track();
        let Some(id) = params.read().get("id").and_then(|v| v.parse::<i64>().ok()) else {
            error.set(Some("not a release number".into()));
            return;
        };
        spawn_local(async move {
            match load_release(id).await {
                Ok(d) => detail.set(Some(d)),
                Err(e) => error.set(Some(e.message)),
            }
        });
    });
    // A deployment of this release changed: fetch the page again (it is small).
    on_live_event(move |event| {
        if let EventPayload::Deployment(d) = &event.payload {
            if detail.with_untracked(|r| r.as_ref().is_some_and(|r| r.release.id == d.release_id)) {
                reload.update(|n| *n += 1);
            }
        }
    });

    view! {
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        {move || detail.get().map(|d| {
            let where_ = d.project.environments.iter().map(|env| {
                let latest = d.deployments.iter().find(|x| x.environment_id == env.id);
                let state = latest.map(|l| deployment_state_text(l.state)).unwrap_or_else(|| "never".into());
                let badge = state.clone();
                let link = latest.map(|l| view! { <a href=format!("/deployments/{}", l.id)>{format!("#{}", l.id)}</a> });
                view! {
                    <li data-env=env.name.clone() data-state=state.clone()>
                        <span class="env-name">{env.name.clone()}</span>
                        <StateBadge state=badge />
                        {link}
                    </li>
                }
            }).collect_view();
            let changelog = d.changelog.iter().map(|c| view! {
                <li><code>{short_commit(&c.sha)}</code> " " {c.subject.clone()} <span class="muted">" — " {c.author.clone()}</span></li>
            }).collect_view();
            let since = match &d.previous {
                Some(p) => format!("Changes since {}", p.version),
                None => "Changes (first release)".to_string(),
            };
            view! {
                <h1>{format!("{} {}", d.project.name, d.release.version)}</h1>
                <p class="muted">
                    "commit " <code>{short_commit(&d.release.git_commit)}</code>
                    {format!(" · created {} · from {}", format_time(d.release.created_at), d.release.source)}
                </p>
                {(!d.pipeline_warnings.is_empty()).then(|| view! {
                    <ul class="warnings" data-testid="pipeline-warnings" aria-label="ferry.yml warnings">
                        {d.pipeline_warnings.iter().map(|w| view! { <li>{w.clone()}</li> }).collect_view()}
                    </ul>
                })}
                <BadMarkPanel release=d.release.clone()
                    on_change=Callback::new(move |r: ReleaseView| detail.update(|d| if let Some(d) = d { d.release = r }))/>
                <h2>"Where it has been"</h2>
                <ul class="release-envs">{where_}</ul>
                <h2>{since}</h2>
                <ul class="commits" data-testid="changelog">{changelog}</ul>
            }
        })}
    }
}
