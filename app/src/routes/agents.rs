//! The agents that run deployments: the one built into the server and those on other
//! hosts, with their labels, state (online, busy, offline), version and last
//! heartbeat. Administrators create one-time registration tokens here, with the
//! command that starts an agent, and revoke agents.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::components::format_time;
use crate::model::{AgentRegistration, AgentView};
use crate::server_fns::{load_agents, register_agent, revoke_agent};

#[component]
pub fn AgentsPage(admin: bool) -> impl IntoView {
    let agents = RwSignal::new(Vec::<AgentView>::new());
    let error = RwSignal::new(None::<String>);
    let fresh = RwSignal::new(None::<AgentRegistration>);
    let refresh = move || {
        spawn_local(async move {
            match load_agents().await {
                Ok(list) => agents.set(list),
                Err(e) => error.set(Some(e.message)),
            }
        })
    };
    refresh();
    // Agents come and go without events of their own: look again every few seconds.
    if let Ok(handle) = set_interval_with_handle(refresh, std::time::Duration::from_secs(5)) {
        on_cleanup(move || handle.clear());
    }
    let create = move |_| {
        spawn_local(async move {
            match register_agent().await {
                Ok(registration) => fresh.set(Some(registration)),
                Err(e) => error.set(Some(e.message)),
            }
        })
    };
    let revoke = move |id: i64| {
        spawn_local(async move {
            match revoke_agent(id).await {
                Ok(()) => refresh(),
                Err(e) => error.set(Some(e.message)),
            }
        })
    };
    let origin = web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default();
    view! {
        <h1>"Agents"</h1>
        <p class="muted">"An environment deploys to the agents its label selector matches (in the project's settings); with no selector, to the agent built into the server."</p>
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        {admin.then(|| view! { <button class="action" on:click=create>"Register an agent"</button> })}
        {move || fresh.get().map(|r| {
            let command = format!(
                "ferry-agent --server {origin} --name web-1 --labels env=staging --workdir /var/lib/ferry-agent --registration-token {}",
                r.token
            );
            view! {
                <div class="fresh-token" role="status">
                    <p>{format!("Start the agent on its host with this one-time token (valid until {}):", format_time(r.expires_at))}</p>
                    <pre><code data-testid="agent-command">{command}</code></pre>
                </div>
            }
        })}
        <table class="agents">
            <thead><tr><th>"Name"</th><th>"State"</th><th>"Labels"</th><th>"Version"</th><th>"Last heartbeat"</th><th></th></tr></thead>
            <tbody>
                {move || agents.get().into_iter().map(|a| {
                    let id = a.id;
                    let labels = a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
                    let state = if a.revoked { "revoked" } else { a.state.as_str() };
                    let action = (admin && id != 0 && !a.revoked).then(|| view! {
                        <button class="action danger" on:click=move |_| revoke(id)>"Revoke"</button>
                    });
                    view! {
                        <tr data-agent=a.name.clone() data-state=state>
                            <td>{a.name.clone()}</td>
                            <td><span class="badge" data-state=state>{state}</span></td>
                            <td><code>{labels}</code></td>
                            <td>{a.version.clone()}</td>
                            <td>{a.last_seen.map(format_time).unwrap_or_else(|| "never".into())}</td>
                            <td>{action}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
