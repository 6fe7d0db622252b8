//! A person's notification preferences on their account page: which events they see
//! in the app and which reach them by email (to their profile's address, when the
//! server has a mail server).

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::model::{NotifyEvent, NotifyPreferences};
use crate::server_fns::{load_notify_preferences, save_notify_preferences};

#[component]
pub fn NotifyPreferencesEditor() -> impl IntoView {
    let prefs = RwSignal::new(None::<NotifyPreferences>);
    let status = RwSignal::new(None::<Result<String, String>>);
    spawn_local(async move {
        match load_notify_preferences().await {
            Ok(loaded) => prefs.set(Some(loaded)),
            Err(e) => status.set(Some(Err(e.message))),
        }
    });
    let toggle = move |email: bool, event: NotifyEvent, on: bool| {
        prefs.update(|p| {
            if let Some(p) = p {
                let list = if email { &mut p.email } else { &mut p.in_app };
                list.retain(|e| *e != event);
                if on {
                    list.push(event);
                }
            }
        })
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(wanted) = prefs.get_untracked() else { return };
        spawn_local(async move {
            match save_notify_preferences(wanted).await {
                Ok(saved) => {
                    prefs.set(Some(saved));
                    status.set(Some(Ok("Saved.".into())));
                }
                Err(e) => status.set(Some(Err(e.message))),
            }
        });
    };
    let row = move |event: NotifyEvent| {
        let checked = move |email: bool| {
            prefs.with(|p| p.as_ref().is_some_and(|p| if email { &p.email } else { &p.in_app }.contains(&event)))
        };
        let email_disabled =
            move || prefs.with(|p| p.as_ref().is_none_or(|p| !p.email_available || p.email_address.is_none()));
        view! {
            <tr data-event=event.as_str()>
                <td>{event.label()}</td>
                <td><input type="checkbox" aria-label=format!("{} in the app", event.label())
                    disabled=event == NotifyEvent::Started prop:checked=move || checked(false)
                    on:change=move |ev| toggle(false, event, event_target_checked(&ev)) /></td>
                <td><input type="checkbox" aria-label=format!("{} by email", event.label())
                    disabled=email_disabled prop:checked=move || checked(true)
                    on:change=move |ev| toggle(true, event, event_target_checked(&ev)) /></td>
            </tr>
        }
    };
    let email_note = move || {
        prefs.with(|p| match p {
            Some(p) if !p.email_available => "This Ferry has no mail server configured, so email is off.".to_string(),
            Some(NotifyPreferences { email_address: None, .. }) => {
                "Your profile has no email address, so email is off.".to_string()
            }
            Some(NotifyPreferences { email_address: Some(a), .. }) => format!("Email goes to {a}."),
            None => String::new(),
        })
    };
    view! {
        <h2>"Notifications"</h2>
        <p class="muted">"What you hear of, about the projects you can see. " {email_note}</p>
        <form class="notify-preferences" on:submit=save>
            <table class="settings">
                <thead><tr><th>"Event"</th><th>"In the app"</th><th>"By email"</th></tr></thead>
                <tbody>{NotifyEvent::ALL.into_iter().map(row).collect_view()}</tbody>
            </table>
            <button class="action" type="submit">"Save preferences"</button>
            {move || status.get().map(|s| match s {
                Ok(m) => view! { <span class="muted" role="status">{m}</span> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
            })}
        </form>
    }
}
