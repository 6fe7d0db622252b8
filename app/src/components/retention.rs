//! How long the project keeps its finished deployments' logs and its deliveries, on
//! its settings page: the server's number of days, or the project's own.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::server_fns::{load_retention, set_retention};

#[component]
pub fn RetentionEditor(project: String) -> impl IntoView {
    let server_days = RwSignal::new(None::<i64>);
    let days = RwSignal::new(String::new());
    let saved = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    {
        let project = project.clone();
        spawn_local(async move {
            match load_retention(project).await {
                Ok(r) => {
                    server_days.set(Some(r.server_days));
                    days.set(r.days.map(|d| d.to_string()).unwrap_or_default());
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    }
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = days.get_untracked();
        let wanted = match text.trim() {
            "" => None,
            number => match number.parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) => return error.set(Some("days: a whole number, or empty for the server's".into())),
            },
        };
        let project = project.clone();
        spawn_local(async move {
            match set_retention(project, wanted).await {
                Ok(_) => {
                    error.set(None);
                    saved.set(true);
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    let server_text = move || match server_days.get() {
        Some(0) => "empty: keep everything, as the server does".to_string(),
        Some(n) => format!("empty: the server's {n} days"),
        None => String::new(),
    };
    view! {
        <h2>"Retention"</h2>
        <p class="muted">"How many days the logs of finished deployments, and finished forge reports and webhook deliveries, are kept; 0 keeps them. The deployments themselves stay in the history."</p>
        {move || error.get().map(|e| view! { <p class="error" role="alert" data-testid="retention-error">{e}</p> })}
        <form class="filters retention-form" on:submit=save>
            <label>"Days" <input inputmode="numeric" prop:value=days placeholder=server_text
                on:input=move |ev| { saved.set(false); days.set(event_target_value(&ev)) } /></label>
            <button class="action" type="submit">"Save"</button>
            {move || saved.get().then(|| view! { <span class="muted" data-testid="retention-saved">"saved"</span> })}
        </form>
    }
}
