//! A project's link to its GitHub or GitLab repository, on its settings page: the
//! webhook URL to paste into the forge (or, given a token, the webhook created by
//! Ferry), the secret, shown once when linked, and the latest reports to the forge.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::model::{DeliveryState, ForgeKind, ForgeLinkView, ForgeReportView, LinkForge};
use crate::server_fns::{load_forge_link, remove_forge_link, save_forge_link};

#[component]
pub fn ForgeLinkEditor(project: String) -> impl IntoView {
    let link = RwSignal::new(None::<ForgeLinkView>);
    let secret = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let (forge, repo) = (RwSignal::new(ForgeKind::Github), RwSignal::new(String::new()));
    let (token, create_hook) = (RwSignal::new(String::new()), RwSignal::new(false));
    {
        let project = project.clone();
        spawn_local(async move {
            match load_forge_link(project).await {
                Ok(found) => link.set(found),
                Err(e) => error.set(Some(e.message)),
            }
        });
    }
    let save = {
        let project = project.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let wanted = LinkForge {
                forge: forge.get_untracked(),
                repo: repo.get_untracked().trim().into(),
                secret: None,
                token: Some(token.get_untracked().trim().to_string()).filter(|t| !t.is_empty()),
                create_hook: create_hook.get_untracked(),
            };
            if let Err(e) = wanted.forge.check_repo(&wanted.repo) {
                return error.set(Some(e));
            }
            let project = project.clone();
            spawn_local(async move {
                match save_forge_link(project, wanted).await {
                    Ok(linked) => {
                        error.set(None);
                        link.set(Some(linked.link));
                        secret.set(Some(linked.secret));
                        token.set(String::new());
                    }
                    Err(e) => error.set(Some(e.message)),
                }
            });
        }
    };
    let unlink = move |_| {
        let project = project.clone();
        spawn_local(async move {
            match remove_forge_link(project).await {
                Ok(()) => {
                    link.set(None);
                    secret.set(None);
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    view! {
        <h2>"Repository"</h2>
        <p class="muted">"Pushes and tags on GitHub or GitLab make releases and deploy them as the "
            <code>"triggers"</code> " of ferry.yml say."</p>
        {move || error.get().map(|e| view! { <p class="error" role="alert" data-testid="forge-error">{e}</p> })}
        {move || link.get().map(|l| view! {
            <p class="forge-link" data-forge=l.forge.as_str()>
                "Linked to " <strong>{l.repo.clone()}</strong> " on " {l.forge.as_str()} ". Webhook URL: "
                <code data-testid="hook-url">{l.hook_url.clone()}</code>
                {if l.reports_statuses { " Deployments are reported to the repository." } else { "" }}
            </p>
            <ForgeReports reports=l.reports.clone() />
        })}
        {move || secret.get().map(|s| view! {
            <p class="fresh-token" role="status">"The webhook secret, shown only now: " <code data-testid="hook-secret">{s}</code></p>
        })}
        <form class="filters forge-form" on:submit=save>
            <label>"Forge"
                <select on:change=move |ev| forge.set(ForgeKind::parse(&event_target_value(&ev)).unwrap_or(ForgeKind::Github))>
                    <option value="github">"GitHub"</option>
                    <option value="gitlab">"GitLab"</option>
                </select>
            </label>
            <label>"Repository" <input required prop:value=repo placeholder="owner/name"
                on:input=move |ev| repo.set(event_target_value(&ev)) /></label>
            <label>"API token (optional)"
                <input type="password" autocomplete="off" prop:value=token data-testid="forge-token"
                    placeholder="ghp_… or glpat-…"
                    on:input=move |ev| token.set(event_target_value(&ev)) /></label>
            <label class="check">
                <input type="checkbox" prop:checked=create_hook prop:disabled=move || token.with(String::is_empty)
                    on:change=move |ev| create_hook.set(event_target_checked(&ev)) />
                "Create the webhook"
            </label>
            <button class="action" type="submit">"Link"</button>
            <Show when=move || link.with(Option::is_some)>
                <button class="action danger" type="button" on:click=unlink.clone()>"Unlink"</button>
            </Show>
        </form>
    }
}

/// What the forge was told lately: each deployment change, and whether it got there.
#[component]
fn ForgeReports(reports: Vec<ForgeReportView>) -> impl IntoView {
    if reports.is_empty() {
        return None;
    }
    let rows = reports
        .into_iter()
        .map(|r| {
            let (icon, label) = match r.state {
                DeliveryState::Delivered => ("✓", "delivered"),
                DeliveryState::Pending => ("…", "retrying"),
                DeliveryState::Failed => ("✗", "failed"),
            };
            view! {
                <tr data-state=r.state.as_str()>
                    <td><a href=format!("/deployments/{}", r.deployment_id)>{format!("#{}", r.deployment_id)}</a></td>
                    <td>{r.environment}</td>
                    <td>{r.deployment_state}</td>
                    <td><span class="badge" data-state=r.state.as_str()>{icon} " " {label}</span></td>
                    <td>{r.attempts}</td>
                    <td class="muted">{r.last_error.unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect_view();
    Some(view! {
        <table class="settings forge-reports" aria-label="Reports to the repository">
            <thead><tr><th>"Deployment"</th><th>"Environment"</th><th>"State"</th><th>"Report"</th>
                <th>"Attempts"</th><th>"Last error"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    })
}
