//! Deployment history: the newest deployments of every project, each linking to its
//! timeline; new and changing deployments appear live.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::components::{deployment_state_text, format_time, StateBadge};
use crate::live::{deployment_supersedes, on_live_event};
use crate::model::{DeploymentView, EventPayload};
use crate::server_fns::load_history;

const PAGE: i64 = 100;

#[component]
pub fn HistoryPage() -> impl IntoView {
    let rows = RwSignal::new(Vec::<DeploymentView>::new());
    let error = RwSignal::new(None::<String>);
    on_live_event(move |event| {
        if let EventPayload::Deployment(d) = &event.payload {
            rows.update(|rows| match rows.iter_mut().find(|r| r.id == d.id) {
                Some(r) if deployment_supersedes(d, r) => *r = d.clone(),
                Some(_) => {}
                None => {
                    rows.insert(0, d.clone());
                    rows.sort_by_key(|d| std::cmp::Reverse(d.id));
                }
            });
        }
    });
    spawn_local(async move {
        match load_history(None, PAGE).await {
            Ok(list) => rows.update(|rows| {
                for d in list {
                    if !rows.iter().any(|r| r.id == d.id) {
                        rows.push(d);
                    }
                }
                rows.sort_by_key(|d| std::cmp::Reverse(d.id));
            }),
            Err(e) => error.set(Some(e.message)),
        }
    });
    view! {
        <h1>"History"</h1>
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        <table class="history">
            <thead><tr>
                <th scope="col">"#"</th><th scope="col">"Project"</th><th scope="col">"Release"</th>
                <th scope="col">"Environment"</th><th scope="col">"State"</th><th scope="col">"Queued"</th>
            </tr></thead>
            <tbody>
                <For each=move || rows.get() key=|d| (d.id, d.state) let:d>
                    <tr data-deployment=d.id>
                        <td><a href=format!("/deployments/{}", d.id)>{format!("#{}", d.id)}</a></td>
                        <td>{d.project.clone()}</td>
                        <td>{d.release_version.clone()}</td>
                        <td>{d.environment.clone()}</td>
                        <td><StateBadge state=deployment_state_text(d.state) /></td>
                        <td class="muted">{format_time(d.created_at)}</td>
                    </tr>
                </For>
            </tbody>
        </table>
    }
}
