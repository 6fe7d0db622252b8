//! The audit log for administrators: every change with who, what, from where and
//! when; filtered by person, action and dates, paged back in time, exported as JSON
//! lines.

use chrono::{NaiveDate, TimeZone, Utc};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::components::format_time;
use crate::model::{AuditEntry, AuditQuery};
use crate::server_fns::load_audit;

const PAGE: i64 = 100;

fn day(text: &str) -> Option<chrono::DateTime<Utc>> {
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?))
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let actor = RwSignal::new(String::new());
    let action = RwSignal::new(String::new());
    let since = RwSignal::new(String::new());
    let until = RwSignal::new(String::new());
    let entries = RwSignal::new(Vec::<AuditEntry>::new());
    let more = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let query = move |before: Option<i64>| AuditQuery {
        actor: Some(actor.get_untracked()).filter(|a| !a.is_empty()),
        action: Some(action.get_untracked()).filter(|a| !a.is_empty()),
        since: day(&since.get_untracked()),
        // Until the end of the chosen day.
        until: day(&until.get_untracked()).map(|d| d + chrono::Duration::days(1)),
        before,
        limit: Some(PAGE),
    };
    let fetch = move |before: Option<i64>| {
        spawn_local(async move {
            match load_audit(query(before)).await {
                Ok(page) => {
                    more.set(page.len() as i64 == PAGE);
                    if before.is_some() {
                        entries.update(|e| e.extend(page));
                    } else {
                        entries.set(page);
                    }
                    error.set(None);
                }
                Err(e) => error.set(Some(e.message)),
            }
        })
    };
    fetch(None);
    // Follows the filter fields as they are typed.
    let export = move || {
        actor.track();
        action.track();
        since.track();
        until.track();
        let q = query(None);
        let mut url = String::from("/api/v1/audit?format=jsonl");
        for (key, value) in [("actor", q.actor), ("action", q.action)] {
            if let Some(v) = value {
                url.push_str(&format!("&{key}={}", url_encode(&v)));
            }
        }
        for (key, value) in [("since", q.since), ("until", q.until)] {
            if let Some(v) = value {
                url.push_str(&format!("&{key}={}", url_encode(&v.to_rfc3339())));
            }
        }
        url
    };
    view! {
        <h1>"Audit log"</h1>
        <form class="filters" on:submit=move |ev| { ev.prevent_default(); fetch(None) }>
            <label>"Person" <input prop:value=actor on:input=move |ev| actor.set(event_target_value(&ev)) /></label>
            <label>"Action" <input placeholder="deployment.start" prop:value=action
                on:input=move |ev| action.set(event_target_value(&ev)) /></label>
            <label>"From" <input type="date" prop:value=since on:input=move |ev| since.set(event_target_value(&ev)) /></label>
            <label>"To" <input type="date" prop:value=until on:input=move |ev| until.set(event_target_value(&ev)) /></label>
            <button class="action" type="submit">"Filter"</button>
            <a class="export" href=export download="ferry-audit.jsonl">"Export JSON lines"</a>
        </form>
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        <table class="audit">
            <thead><tr><th>"When"</th><th>"Who"</th><th>"Action"</th><th>"Target"</th><th>"Detail"</th><th>"From"</th></tr></thead>
            <tbody>
                {move || entries.get().into_iter().map(|e| {
                    let kind = e.action.clone();
                    view! {
                    <tr data-action=kind>
                        <td>{format_time(e.at)}</td>
                        <td>{e.actor}</td>
                        <td><code>{e.action}</code></td>
                        <td>{e.target}</td>
                        <td><code class="detail">{e.detail.to_string()}</code></td>
                        <td>{e.address.unwrap_or_default()}</td>
                    </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        {move || more.get().then(|| view! {
            <button class="secondary" on:click=move |_| fetch(entries.with_untracked(|e| e.last().map(|l| l.id)))>"Older"</button>
        })}
    }
}

/// Percent-encodes a query value.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
