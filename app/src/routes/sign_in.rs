//! The sign-in page: the sign-in providers Ferry is configured with, and the local
//! password form (in local mode, the only way in).

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::model::Me;
use crate::server_fns::sign_in;

#[component]
pub fn SignInPage(me: Me) -> impl IntoView {
    let login = RwSignal::new(String::from("admin"));
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        spawn_local(async move {
            match sign_in(login.get_untracked(), password.get_untracked()).await {
                // A fresh start: the live connection and every page load as this user.
                Ok(_) => reload(),
                Err(e) => {
                    error.set(Some(e.message));
                    busy.set(false);
                }
            }
        });
    };
    let providers = me
        .providers
        .iter()
        .map(|p| {
            view! { <a class="provider" rel="external" href=format!("/auth/{}/start", p.id)>{format!("Sign in with {}", p.label)}</a> }
        })
        .collect_view();
    let form = me.password_sign_in.then(|| {
        view! {
            <form class="sign-in-form" on:submit=submit>
                <label>"Login"
                    <input name="login" autocomplete="username" required prop:value=login
                        on:input=move |ev| login.set(event_target_value(&ev)) />
                </label>
                <label>"Password"
                    <input name="password" type="password" autocomplete="current-password" required
                        on:input=move |ev| password.set(event_target_value(&ev)) />
                </label>
                <button class="action" type="submit" disabled=move || busy.get()>"Sign in"</button>
            </form>
        }
    });
    view! {
        <section class="sign-in" aria-labelledby="sign-in-title">
            <h1 id="sign-in-title">"Sign in to Ferry"</h1>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <div class="providers">{providers}</div>
            {form}
            {me.local_mode.then(|| view! {
                <p class="muted local-note">
                    "Local mode: no sign-in provider is configured, so Ferry has one local administrator, "
                    <code>"admin"</code>". Its password was printed when Ferry first started, or is the value of "
                    <code>"FERRY_ADMIN_PASSWORD"</code>"."
                </p>
            })}
        </section>
    }
}

/// Reloads the page, so everything starts over as the new user (or nobody).
pub fn reload() {
    if let Some(window) = web_sys::window() {
        let _ = window.location().reload();
    }
}
