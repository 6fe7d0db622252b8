//! The variables and secrets of a project, on its settings page: listed (a secret
//! shows only that it is set), added or replaced, removed.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::components::format_time;
use crate::model::{SetVariable, VariableView};
use crate::server_fns::{load_variables, remove_variable, save_variable};

#[component]
pub fn VariablesEditor(project: String, environments: Vec<String>) -> impl IntoView {
    let list = RwSignal::new(Vec::<VariableView>::new());
    let error = RwSignal::new(None::<String>);
    let (name, value, scope, secret) = (
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(false),
    );
    let refresh = {
        let project = project.clone();
        move || {
            let project = project.clone();
            spawn_local(async move {
                match load_variables(project).await {
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
            let change = SetVariable {
                name: name.get_untracked().trim().to_string(),
                environment: Some(scope.get_untracked()).filter(|s| !s.is_empty()),
                value: value.get_untracked(),
                secret: secret.get_untracked(),
            };
            let (project, refresh) = (project.clone(), refresh.clone());
            spawn_local(async move {
                match save_variable(project, change).await {
                    Ok(()) => {
                        error.set(None);
                        value.set(String::new());
                        refresh();
                    }
                    Err(e) => error.set(Some(e.message)),
                }
            });
        }
    };
    let remove = move |environment: Option<String>, variable: String| {
        let (project, refresh) = (project.clone(), refresh.clone());
        spawn_local(async move {
            match remove_variable(project, environment, variable).await {
                Ok(()) => refresh(),
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    view! {
        <h2>"Variables and secrets"</h2>
        <p class="muted">"Given to every step as environment variables; an environment's value replaces the project-wide one. A secret is stored encrypted, never shown again, and masked in logs."</p>
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        <table class="settings variables">
            <thead><tr><th>"Name"</th><th>"Environment"</th><th>"Value"</th><th>"Changed"</th><th></th></tr></thead>
            <tbody>
                {move || list.get().into_iter().map(|v| {
                    let remove = remove.clone();
                    let (env, var) = (v.environment.clone(), v.name.clone());
                    view! {
                        <tr data-variable=v.name.clone()>
                            <td><code>{v.name.clone()}</code></td>
                            <td>{v.environment.clone().unwrap_or_else(|| "all".into())}</td>
                            <td>{match v.value { Some(value) => value, None => "•••••• (secret)".into() }}</td>
                            <td class="muted">{format!("{} by {}", format_time(v.updated_at), v.updated_by)}</td>
                            <td><button class="action danger" on:click=move |_| remove(env.clone(), var.clone())>"Remove"</button></td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        <form class="filters variable-form" on:submit=save>
            <label>"Name" <input required placeholder="DATABASE_URL" prop:value=name on:input=move |ev| name.set(event_target_value(&ev)) /></label>
            <label>"Environment"
                <select on:change=move |ev| scope.set(event_target_value(&ev))>
                    <option value="">"all"</option>
                    {environments.into_iter().map(|e| view! { <option value=e.clone()>{e.clone()}</option> }).collect_view()}
                </select>
            </label>
            <label>"Value" <input prop:value=value on:input=move |ev| value.set(event_target_value(&ev))
                prop:type=move || if secret.get() { "password" } else { "text" } /></label>
            <label class="check"><input type="checkbox" prop:checked=secret on:change=move |ev| secret.set(event_target_checked(&ev)) />" secret"</label>
            <button class="action" type="submit">"Save variable"</button>
        </form>
    }
}
