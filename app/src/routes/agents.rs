//! The agents that run deployments: the one built into the server and those on other
//! hosts, with their labels, state (online, busy, offline), version and last
//! heartbeat, and why its last connection was refused, if it was. Administrators
//! create one-time registration tokens here (each for a name and labels the agent
//! cannot change), with the command that starts an agent, rename and relabel agents,
//! and revoke them.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::components::format_time;
use crate::model::{AgentIdentityRequest, AgentRegistration, AgentView};
use crate::server_fns::{load_agents, register_agent, revoke_agent, set_agent_identity};

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
    let new_name = RwSignal::new(String::new());
    let new_labels = RwSignal::new(String::new());
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let identity = AgentIdentityRequest { name: new_name.get_untracked(), labels: new_labels.get_untracked() };
        spawn_local(async move {
            match register_agent(identity).await {
                Ok(registration) => {
                    error.set(None);
                    fresh.set(Some(registration));
                }
                Err(e) => error.set(Some(e.message)),
            }
        })
    };
    let editing = RwSignal::new(None::<(i64, String, String)>);
    let save_identity = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some((id, name, labels)) = editing.get_untracked() else { return };
        spawn_local(async move {
            match set_agent_identity(id, AgentIdentityRequest { name, labels }).await {
                Ok(_) => {
                    editing.set(None);
                    error.set(None);
                    refresh();
                }
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
        {admin.then(|| view! {
            <form class="register-agent" on:submit=create>
                <label>"Name " <input required placeholder="web-1" prop:value=new_name
                    on:input=move |ev| new_name.set(event_target_value(&ev)) /></label>
                <label>"Labels " <input placeholder="env=staging,role=web" prop:value=new_labels
                    on:input=move |ev| new_labels.set(event_target_value(&ev)) /></label>
                <button class="action" type="submit">"Register an agent"</button>
            </form>
        })}
        {move || fresh.get().map(|r| {
            let command = format!(
                "ferry-agent --server {origin} --workdir /var/lib/ferry-agent --registration-token {}",
                r.token
            );
            let labels = r.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
            view! {
                <div class="fresh-token" role="status">
                    <p>{format!(
                        "Start the agent on its host with this one-time token (valid until {}). It registers as {} with labels {}; only an administrator can change them.",
                        format_time(r.expires_at), r.name, if labels.is_empty() { "(none)".to_string() } else { labels },
                    )}</p>
                    <pre><code data-testid="agent-command">{command}</code></pre>
                </div>
            }
        })}
        {move || editing.get().map(|(id, name, labels)| view! {
            <form class="edit-agent" on:submit=save_identity aria-label="Change the agent's name and labels">
                <label>"Name " <input required prop:value=name
                    on:input=move |ev| editing.update(|e| if let Some(e) = e { e.1 = event_target_value(&ev) }) /></label>
                <label>"Labels " <input prop:value=labels
                    on:input=move |ev| editing.update(|e| if let Some(e) = e { e.2 = event_target_value(&ev) }) /></label>
                <button class="action" type="submit">{format!("Save agent #{id}")}</button>
                <button class="action" type="button" on:click=move |_| editing.set(None)>"Cancel"</button>
            </form>
        })}
        <table class="agents">
            <thead><tr><th>"Name"</th><th>"State"</th><th>"Labels"</th><th>"Version"</th><th>"Last heartbeat"</th><th>"Problem"</th><th></th></tr></thead>
            <tbody>
                {move || agents.get().into_iter().map(|a| {
                    let id = a.id;
                    let labels = a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
                    let state = if a.revoked { "revoked" } else { a.state.as_str() };
                    let edit = (a.name.clone(), labels.replace(", ", ","));
                    let action = (admin && id != 0 && !a.revoked).then(|| view! {
                        <button class="action" on:click=move |_| editing.set(Some((id, edit.0.clone(), edit.1.clone())))>"Edit"</button>
                        <button class="action danger" on:click=move |_| revoke(id)>"Revoke"</button>
                    });
                    view! {
                        <tr data-agent=a.name.clone() data-state=state>
                            <td>{a.name.clone()}</td>
                            <td><span class="badge" data-state=state>{state}</span></td>
                            <td><code>{labels}</code></td>
                            <td>{a.version.clone()}</td>
                            <td>{a.last_seen.map(format_time).unwrap_or_else(|| "never".into())}</td>
                            <td class="problem">{a.problem.clone().map(|p| view! { <span class="error">{p}</span> })}</td>
                            <td>{action}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
