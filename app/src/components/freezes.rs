//! The deploy freeze windows of a project, on its settings page: listed (those active
//! now marked), added (once, in UTC, or every week, in a named time zone) and removed.

use chrono::{DateTime, NaiveDateTime, Utc};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::model::{FreezeView, FreezeWindow, NewFreeze};
use crate::server_fns::{add_freeze, load_freezes, remove_freeze};

/// A `datetime-local` input's value (`2026-12-24T18:00`), read as UTC.
fn utc_input(field: &str, text: &str) -> Result<DateTime<Utc>, String> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .map(|t| t.and_utc())
        .map_err(|_| format!("window.{field}: pick a date and time"))
}

#[component]
pub fn FreezeEditor(project: String, environments: Vec<String>) -> impl IntoView {
    let list = RwSignal::new(Vec::<FreezeView>::new());
    let error = RwSignal::new(None::<String>);
    let first = environments.first().cloned().unwrap_or_default();
    let (environment, weekly, from, to, reason) = (
        RwSignal::new(first),
        RwSignal::new(true),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
    );
    let zone = RwSignal::new(String::new());
    let refresh = {
        let project = project.clone();
        move || {
            let project = project.clone();
            spawn_local(async move {
                match load_freezes(project).await {
                    Ok(items) => list.set(items),
                    Err(e) => error.set(Some(e.message)),
                }
            })
        }
    };
    refresh();
    let save = {
        let (project, refresh) = (project.clone(), refresh.clone());
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let window = if weekly.get_untracked() {
                let zone = Some(zone.get_untracked().trim().to_string()).filter(|z| !z.is_empty());
                Ok(FreezeWindow::Weekly { from: from.get_untracked(), to: to.get_untracked(), time_zone: zone })
            } else {
                utc_input("from", &from.get_untracked())
                    .and_then(|f| Ok(FreezeWindow::Once { from: f, to: utc_input("to", &to.get_untracked())? }))
            };
            // Checked here for a message at once; the server checks again.
            let window = match window.and_then(|w| w.check().map(|_| w)) {
                Ok(w) => w,
                Err(e) => return error.set(Some(e)),
            };
            let freeze = NewFreeze { environment: environment.get_untracked(), window, reason: reason.get_untracked() };
            let (project, refresh) = (project.clone(), refresh.clone());
            spawn_local(async move {
                match add_freeze(project, freeze).await {
                    Ok(_) => {
                        error.set(None);
                        reason.set(String::new());
                        refresh();
                    }
                    Err(e) => error.set(Some(e.message)),
                }
            });
        }
    };
    let remove = move |id: i64| {
        let (project, refresh) = (project.clone(), refresh.clone());
        spawn_local(async move {
            match remove_freeze(project, id).await {
                Ok(()) => refresh(),
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    let placeholder = move |weekly_text: &'static str| move || if weekly.get() { weekly_text } else { "" };
    view! {
        <h2>"Deploy freezes"</h2>
        <p class="muted">"While a freeze covers the present, deployments to its environment are refused; an admin can override one with a reason, which the audit log keeps. Rollbacks are never frozen. One-off windows are in UTC; weekly ones in the time zone you name (UTC if none)."</p>
        {move || error.get().map(|e| view! { <p class="error" role="alert" data-testid="freeze-error">{e}</p> })}
        <table class="settings freezes">
            <thead><tr><th>"Environment"</th><th>"When"</th><th>"Why"</th><th>"By"</th><th></th></tr></thead>
            <tbody>
                {move || list.get().into_iter().map(|f| {
                    let remove = remove.clone();
                    let id = f.id;
                    view! {
                        <tr data-freeze=f.id data-active=f.active.to_string()>
                            <td>{f.environment.clone()}</td>
                            <td>{f.window.describe()}{f.active.then(|| view! { " " <span class="badge" data-state="frozen">"❄ now"</span> })}</td>
                            <td>{f.reason.clone()}</td>
                            <td class="muted">{f.created_by.clone()}</td>
                            <td><button class="action danger" on:click=move |_| remove(id)>"Remove"</button></td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        <form class="filters freeze-form" on:submit=save>
            <label>"Environment"
                <select on:change=move |ev| environment.set(event_target_value(&ev))>
                    {environments.into_iter().map(|e| view! { <option value=e.clone()>{e.clone()}</option> }).collect_view()}
                </select>
            </label>
            <label>"Repeats"
                <select on:change=move |ev| weekly.set(event_target_value(&ev) == "weekly")>
                    <option value="weekly">"every week"</option>
                    <option value="once">"once"</option>
                </select>
            </label>
            <label>"From" <input required prop:value=from placeholder=placeholder("fri 16:00")
                prop:type=move || if weekly.get() { "text" } else { "datetime-local" }
                on:input=move |ev| from.set(event_target_value(&ev)) /></label>
            <label>"To" <input required prop:value=to placeholder=placeholder("mon 08:00")
                prop:type=move || if weekly.get() { "text" } else { "datetime-local" }
                on:input=move |ev| to.set(event_target_value(&ev)) /></label>
            <Show when=move || weekly.get()>
                <label>"Time zone" <input prop:value=zone placeholder="Europe/Berlin" data-testid="freeze-zone"
                    on:input=move |ev| zone.set(event_target_value(&ev)) /></label>
            </Show>
            <label>"Reason" <input required prop:value=reason placeholder="release week"
                on:input=move |ev| reason.set(event_target_value(&ev)) /></label>
            <button class="action" type="submit">"Add freeze"</button>
        </form>
    }
}
