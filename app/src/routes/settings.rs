//! A project's settings: how each environment is protected (who may deploy, how many
//! approvals, the wait timer), edited in place with the problem shown by the field.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_params_map;

use crate::components::forge_link::ForgeLinkEditor;
use crate::components::freezes::FreezeEditor;
use crate::components::retention::RetentionEditor;
use crate::components::ssh_hosts::SshHostsEditor;
use crate::components::variables::VariablesEditor;
use crate::model::{EnvironmentView, ProjectView, Protection, Role};
use crate::server_fns::{load_matrix, protect_environment, select_agents, select_builders};

#[component]
pub fn SettingsPage() -> impl IntoView {
    let params = use_params_map();
    let project = RwSignal::new(None::<ProjectView>);
    let error = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        let Some(slug) = params.read().get("slug") else { return };
        spawn_local(async move {
            match load_matrix().await {
                Ok(m) => match m.rows.into_iter().find(|r| r.project.slug == slug) {
                    Some(row) => project.set(Some(row.project)),
                    None => error.set(Some(format!("no project `{slug}` you can see"))),
                },
                Err(e) => error.set(Some(e.message)),
            }
        });
    });
    view! {
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        {move || project.get().map(|p| {
            let slug = p.slug.clone();
            let env_names: Vec<String> = p.lifecycle().map(|e| e.name.clone()).collect();
            let targets = p.lifecycle().map(|env| view! { <AgentsRow slug=slug.clone() env=env.clone() /> }).collect_view();
            view! {
                <h1>{format!("{} settings", p.name)}</h1>
                <h2>"Protected environments"</h2>
                <p class="muted">"Who may deploy to each environment, how many people other than the requester must approve, and how long an approved deployment waits. Rollbacks need the deploy role only."</p>
                <table class="settings protection">
                    <thead><tr><th>"Environment"</th><th>"Who may deploy"</th><th>"Approvals"</th><th>"Wait (min)"</th><th></th></tr></thead>
                    <tbody>
                        {p.lifecycle().cloned().map(|env| view! { <ProtectionRow slug=slug.clone() env /> }).collect_view()}
                    </tbody>
                </table>
                <h2>"Where each environment deploys"</h2>
                <p class="muted">"Agents whose labels match every " <code>"key=value"</code>
                    " (comma separated), and the environment's SSH hosts (below); with neither, the agent built into the server. See the " <a href="/agents">"Agents"</a>
                    " page. It decides where the project's code runs and its secrets go, so only administrators change it."</p>
                <table class="settings agent-targets">
                    <thead><tr><th>"Environment"</th><th>"Agent labels"</th><th></th></tr></thead>
                    <tbody>{targets}</tbody>
                </table>
                <SshHostsEditor project=slug.clone() environments=env_names.clone() />
                <h2>"Where releases are built"</h2>
                <p class="muted">"A release is built once, by its first deployment: on the agent built into the server, or on an online agent whose labels match (e.g. " <code>"role=builder"</code> "), which sends the artifact back. Only administrators change it."</p>
                <BuildersRow slug=slug.clone() selector=p.build_selector.clone() />
                <VariablesEditor project=slug.clone() environments=env_names.clone() />
                <FreezeEditor project=slug.clone() environments=env_names />
                <RetentionEditor project=slug.clone() />
                <ForgeLinkEditor project=slug.clone() />
            }
            .into_any()
        })}
    }
}

#[component]
fn ProtectionRow(slug: String, env: EnvironmentView) -> impl IntoView {
    let role = RwSignal::new(env.protection.deploy_role);
    let approvals = RwSignal::new(env.protection.required_approvals.to_string());
    let wait = RwSignal::new(env.protection.wait_minutes.to_string());
    // The field a problem is about ("required_approvals: …"), and the message.
    let problem = RwSignal::new(None::<(String, String)>);
    let saved = RwSignal::new(false);
    let name = env.name.clone();
    let save = move |_| {
        saved.set(false);
        let number = |text: String, field: &str| {
            text.trim().parse::<i64>().map_err(|_| (field.to_string(), "a whole number".to_string()))
        };
        let parsed = number(approvals.get_untracked(), "required_approvals")
            .and_then(|a| number(wait.get_untracked(), "wait_minutes").map(|w| (a, w)));
        let protection = match parsed {
            Ok((required_approvals, wait_minutes)) => {
                Protection { deploy_role: role.get_untracked(), required_approvals, wait_minutes }
            }
            Err(p) => return problem.set(Some(p)),
        };
        // The same check the server makes, answered without a round trip.
        if let Some(message) = protection.problem() {
            return problem.set(Some(split(&message)));
        }
        let (slug, name) = (slug.clone(), name.clone());
        spawn_local(async move {
            match protect_environment(slug, name, protection).await {
                Ok(_) => {
                    problem.set(None);
                    saved.set(true);
                }
                Err(e) => problem.set(Some(split(&e.message))),
            }
        });
    };
    let field_error = move |field: &'static str| {
        move || {
            problem
                .get()
                .filter(|(f, _)| f == field)
                .map(|(_, m)| view! { <span class="field-error" role="alert">{m}</span> })
        }
    };
    let roles = [Role::Deployer, Role::Maintainer, Role::Admin];
    view! {
        <tr data-env=env.name.clone()>
            <th scope="row">{env.name.clone()}</th>
            <td>
                <select aria-label=format!("Who may deploy to {}", env.name)
                    on:change=move |ev| if let Some(r) = Role::parse(&event_target_value(&ev)) { role.set(r) }>
                    {roles.into_iter().map(|r| view! {
                        <option value=r.as_str() selected=move || role.get() == r>{r.as_str()}</option>
                    }).collect_view()}
                </select>
                {field_error("deploy_role")}
            </td>
            <td>
                <input type="number" aria-label=format!("Approvals for {}", env.name) prop:value=approvals
                    on:input=move |ev| approvals.set(event_target_value(&ev)) />
                {field_error("required_approvals")}
            </td>
            <td>
                <input type="number" aria-label=format!("Wait minutes for {}", env.name) prop:value=wait
                    on:input=move |ev| wait.set(event_target_value(&ev)) />
                {field_error("wait_minutes")}
            </td>
            <td>
                <button class="action" on:click=save>"Save"</button>
                {move || saved.get().then(|| view! { <span class="muted" role="status">" saved"</span> })}
                {move || problem.get().filter(|(f, _)| f.is_empty()).map(|(_, m)| view! { <p class="error" role="alert">{m}</p> })}
            </td>
        </tr>
    }
}

#[component]
fn BuildersRow(slug: String, selector: String) -> impl IntoView {
    let selector = RwSignal::new(selector);
    let problem = RwSignal::new(None::<String>);
    let saved = RwSignal::new(false);
    let save = move |_| {
        saved.set(false);
        let slug = slug.clone();
        spawn_local(async move {
            match select_builders(slug, selector.get_untracked()).await {
                Ok(updated) => {
                    selector.set(updated.build_selector);
                    problem.set(None);
                    saved.set(true);
                }
                Err(e) => problem.set(Some(e.message.trim_start_matches("selector: ").to_string())),
            }
        });
    };
    view! {
        <p class="settings build-agents">
            <input aria-label="Build agent labels" placeholder="built-in agent" prop:value=selector
                on:input=move |ev| selector.set(event_target_value(&ev)) />
            " " <button class="action" on:click=save>"Save"</button>
            {move || saved.get().then(|| view! { <span class="muted" role="status">" saved"</span> })}
            {move || problem.get().map(|m| view! { <span class="field-error" role="alert">{m}</span> })}
        </p>
    }
}

#[component]
fn AgentsRow(slug: String, env: EnvironmentView) -> impl IntoView {
    let selector = RwSignal::new(env.agent_selector.clone());
    let problem = RwSignal::new(None::<String>);
    let saved = RwSignal::new(false);
    let name = env.name.clone();
    let save = move |_| {
        saved.set(false);
        let (slug, name) = (slug.clone(), name.clone());
        spawn_local(async move {
            match select_agents(slug, name, selector.get_untracked()).await {
                Ok(updated) => {
                    selector.set(updated.agent_selector);
                    problem.set(None);
                    saved.set(true);
                }
                Err(e) => problem.set(Some(e.message.trim_start_matches("selector: ").to_string())),
            }
        });
    };
    view! {
        <tr data-env=env.name.clone()>
            <th scope="row">{env.name.clone()}</th>
            <td>
                <input aria-label=format!("Agent labels for {}", env.name) placeholder="built-in agent" prop:value=selector
                    on:input=move |ev| selector.set(event_target_value(&ev)) />
                {move || problem.get().map(|m| view! { <span class="field-error" role="alert">{m}</span> })}
            </td>
            <td>
                <button class="action" on:click=save>"Save"</button>
                {move || saved.get().then(|| view! { <span class="muted" role="status">" saved"</span> })}
            </td>
        </tr>
    }
}

/// `"field: message"` into its parts; other messages belong to no field.
fn split(message: &str) -> (String, String) {
    match message.split_once(": ") {
        Some((field, rest)) if ["deploy_role", "required_approvals", "wait_minutes"].contains(&field) => {
            (field.to_string(), rest.to_string())
        }
        _ => (String::new(), message.to_string()),
    }
}
