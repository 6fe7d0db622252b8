//! Deployment history: every deployment, newest first, filtered by project,
//! environment, state, person and date, a page at a time; each row links to its timeline.
//! Deployments that start or change while the page is open appear live.

use chrono::{DateTime, NaiveDate, Utc};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::components::{deployment_state_text, format_time, StateBadge};
use crate::live::{deployment_supersedes, on_live_event};
use crate::model::{DeploymentState, DeploymentView, EventPayload, HistoryFilter};
use crate::server_fns::{load_history, load_matrix};

const PAGE: i64 = 50;

/// Whether a deployment belongs in a filtered list (paging aside).
pub fn matches(filter: &HistoryFilter, d: &DeploymentView) -> bool {
    filter.project.as_ref().is_none_or(|p| *p == d.project)
        && filter.environment.as_ref().is_none_or(|e| *e == d.environment)
        && filter.state.is_none_or(|s| s == d.state)
        && filter.since.is_none_or(|t| d.created_at >= t)
        && filter.until.is_none_or(|t| d.created_at < t)
        && filter.requested_by.as_ref().is_none_or(|p| d.requested_by.as_ref() == Some(p))
}

fn day_start(text: &str) -> Option<DateTime<Utc>> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?.and_hms_opt(0, 0, 0).map(|t| t.and_utc())
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

#[component]
pub fn HistoryPage() -> impl IntoView {
    let rows = RwSignal::new(Vec::<DeploymentView>::new());
    let filter = RwSignal::new(HistoryFilter::default());
    let has_more = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let choices = RwSignal::new((Vec::<String>::new(), Vec::<String>::new()));

    spawn_local(async move {
        if let Ok(matrix) = load_matrix().await {
            let projects = matrix.rows.iter().map(|r| r.project.slug.clone()).collect();
            let mut envs: Vec<String> =
                matrix.rows.iter().flat_map(|r| r.project.environments.iter().map(|e| e.name.clone())).collect();
            envs.dedup();
            choices.set((projects, envs));
        }
    });
    let fetch = move |before: Option<i64>| {
        let query = HistoryFilter { before, limit: Some(PAGE), ..filter.get_untracked() };
        spawn_local(async move {
            match load_history(query).await {
                Ok(page) => {
                    has_more.set(page.len() as i64 == PAGE);
                    rows.update(|rows| {
                        if before.is_none() {
                            rows.clear();
                        }
                        for d in page {
                            if !rows.iter().any(|r| r.id == d.id) {
                                rows.push(d);
                            }
                        }
                    });
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    Effect::new(move |_| {
        filter.track();
        fetch(None);
    });
    on_live_event(move |event| {
        if let EventPayload::Deployment(d) = &event.payload {
            let wanted = filter.with_untracked(|f| matches(f, d));
            rows.update(|rows| match rows.iter().position(|r| r.id == d.id) {
                Some(i) if !wanted => {
                    rows.remove(i);
                }
                Some(i) if deployment_supersedes(d, &rows[i]) => rows[i] = d.clone(),
                Some(_) => {}
                None if wanted && rows.first().is_none_or(|r| d.id > r.id) => rows.insert(0, d.clone()),
                None => {}
            });
        }
    });

    let select = |label: &'static str, options: Signal<Vec<String>>, set: fn(&mut HistoryFilter, Option<String>)| {
        view! {
            <label>{label}" "
                <select aria-label=label on:change=move |ev| filter.update(|f| set(f, non_empty(event_target_value(&ev))))>
                    <option value="">"all"</option>
                    {move || options.get().into_iter().map(|o| view! { <option value=o.clone()>{o.clone()}</option> }).collect_view()}
                </select>
            </label>
        }
    };
    let states = Signal::derive(|| {
        [
            DeploymentState::AwaitingApproval,
            DeploymentState::Queued,
            DeploymentState::Running,
            DeploymentState::Succeeded,
            DeploymentState::Failed,
            DeploymentState::Cancelled,
        ]
        .iter()
        .map(|s| s.as_str().to_string())
        .collect()
    });
    view! {
        <h1>"History"</h1>
        <form class="filters" on:submit=|ev| ev.prevent_default()>
            {select("Project", Signal::derive(move || choices.get().0), |f, v| f.project = v)}
            {select("Environment", Signal::derive(move || choices.get().1), |f, v| f.environment = v)}
            {select("State", states, |f, v| f.state = v.and_then(|v| DeploymentState::parse(&v)))}
            <label>"Person " <input aria-label="Person" placeholder="login"
                on:change=move |ev| filter.update(|f| f.requested_by = non_empty(event_target_value(&ev)))/></label>
            <label>"From " <input type="date" aria-label="From"
                on:change=move |ev| filter.update(|f| f.since = day_start(&event_target_value(&ev)))/></label>
            <label>"To " <input type="date" aria-label="To"
                on:change=move |ev| filter.update(|f| f.until = day_start(&event_target_value(&ev)).map(|t| t + chrono::Duration::days(1)))/></label>
        </form>
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        <table class="history">
            <thead><tr>
                <th scope="col">"#"</th><th scope="col">"Project"</th><th scope="col">"Release"</th>
                <th scope="col">"Environment"</th><th scope="col">"State"</th><th scope="col">"By"</th><th scope="col">"Queued"</th>
            </tr></thead>
            <tbody>
                <For each=move || rows.get() key=|d| (d.id, d.state) let:d>
                    <tr data-deployment=d.id>
                        <td><a href=format!("/deployments/{}", d.id)>{format!("#{}", d.id)}</a></td>
                        <td>{d.project.clone()}</td>
                        <td>{d.release_version.clone()}</td>
                        <td>{d.environment.clone()}</td>
                        <td><StateBadge state=deployment_state_text(d.state) /></td>
                        <td>{d.requested_by.clone().unwrap_or_default()}</td>
                        <td class="muted">{format_time(d.created_at)}</td>
                    </tr>
                </For>
            </tbody>
        </table>
        {move || rows.with(Vec::is_empty).then(|| view! { <p class="empty">"No deployments match."</p> })}
        <Show when=move || has_more.get()>
            <button class="secondary" on:click=move |_| fetch(rows.with_untracked(|r| r.last().map(|d| d.id)))>"Older deployments"</button>
        </Show>
    }
}
