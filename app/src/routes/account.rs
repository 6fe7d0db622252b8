//! The signed-in person's account: who they are, their API tokens (created with the
//! secret shown once, listed with their last use, revoked), their notification
//! preferences, and signing out of every browser.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::components::format_time;
use crate::components::preferences::NotifyPreferencesEditor;
use crate::model::{CreateToken, TokenScope, TokenView, UserView};
use crate::routes::sign_in::reload;
use crate::server_fns::{issue_token, load_tokens, revoke_token, sign_out_everywhere};

#[component]
pub fn AccountPage(user: UserView) -> impl IntoView {
    let tokens = RwSignal::new(Vec::<TokenView>::new());
    let error = RwSignal::new(None::<String>);
    let fresh = RwSignal::new(None::<String>);
    let refresh = move || {
        spawn_local(async move {
            match load_tokens().await {
                Ok(list) => tokens.set(list),
                Err(e) => error.set(Some(e.message)),
            }
        })
    };
    refresh();

    let name = RwSignal::new(String::new());
    let scope = RwSignal::new(String::from("read"));
    let days = RwSignal::new(String::from("90"));
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(scope) = TokenScope::parse(&scope.get_untracked()) else { return };
        let Ok(days) = days.get_untracked().trim().parse::<i64>() else {
            error.set(Some("expires in: a number of days".into()));
            return;
        };
        let request =
            CreateToken { name: name.get_untracked(), scopes: vec![scope], project: None, expires_in_days: Some(days) };
        spawn_local(async move {
            match issue_token(request).await {
                Ok(created) => {
                    error.set(None);
                    fresh.set(Some(created.token));
                    name.set(String::new());
                    refresh();
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    let revoke = move |id: i64| {
        spawn_local(async move {
            match revoke_token(id).await {
                Ok(()) => refresh(),
                Err(e) => error.set(Some(e.message)),
            }
        })
    };
    let everywhere = move |_| {
        spawn_local(async move {
            match sign_out_everywhere().await {
                Ok(()) => reload(),
                Err(e) => error.set(Some(e.message)),
            }
        })
    };

    view! {
        <h1>"Account"</h1>
        <p>
            <strong>{user.name.clone()}</strong> " (" {user.login.clone()} ") · role " <code>{user.role.as_str()}</code>
            " · signed in with " {user.provider.clone()}
        </p>
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        <h2>"API tokens"</h2>
        <p class="muted">"For the CLI and CI jobs: send it as " <code>"Authorization: Bearer …"</code>
            ". A token never does more than you can."</p>
        {move || fresh.get().map(|t| view! {
            <p class="fresh-token" role="status">"Copy it now; it will not be shown again: " <code data-testid="new-token">{t}</code></p>
        })}
        <form class="filters token-form" on:submit=create>
            <label>"Name" <input required maxlength="100" prop:value=name on:input=move |ev| name.set(event_target_value(&ev)) /></label>
            <label>"Scope"
                <select on:change=move |ev| scope.set(event_target_value(&ev))>
                    <option value="read">"read"</option>
                    <option value="deploy">"deploy"</option>
                    <option value="manage">"manage"</option>
                </select>
            </label>
            <label>"Expires in (days)" <input type="number" min="1" max="365" prop:value=days
                on:input=move |ev| days.set(event_target_value(&ev)) /></label>
            <button class="action" type="submit">"Create token"</button>
        </form>
        <table class="tokens">
            <thead><tr><th>"Name"</th><th>"Token"</th><th>"Scopes"</th><th>"Expires"</th><th>"Last used"</th><th></th></tr></thead>
            <tbody>
                {move || tokens.get().into_iter().map(|t| {
                    let id = t.id;
                    let scopes = t.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
                    view! {
                        <tr data-token=t.name.clone()>
                            <td>{t.name.clone()}</td>
                            <td><code>{format!("{}…", t.prefix)}</code></td>
                            <td>{scopes}{t.project.clone().map(|p| format!(" on {p}"))}</td>
                            <td>{format_time(t.expires_at)}</td>
                            <td>{t.last_used_at.map(format_time).unwrap_or_else(|| "never".into())}</td>
                            <td>{if t.revoked {
                                view! { <span class="muted">"revoked"</span> }.into_any()
                            } else {
                                view! { <button class="action danger" on:click=move |_| revoke(id)>"Revoke"</button> }.into_any()
                            }}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        <NotifyPreferencesEditor />
        <h2>"Sessions"</h2>
        <button class="secondary" on:click=everywhere>"Sign out everywhere"</button>
    }
}
