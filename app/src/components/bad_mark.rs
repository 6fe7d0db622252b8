//! The "bad release" banner and controls of a release page: mark it bad with a reason
//! (it then goes nowhere new), or clear the mark.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::components::format_time;
use crate::model::ReleaseView;
use crate::server_fns::mark_release;

#[component]
pub fn BadMarkPanel(release: ReleaseView, on_change: Callback<ReleaseView>) -> impl IntoView {
    let reason = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let id = release.id;
    let submit = move |bad: bool| {
        let text = reason.get_untracked();
        spawn_local(async move {
            match mark_release(id, bad.then_some(text)).await {
                Ok(updated) => {
                    error.set(None);
                    on_change.run(updated);
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    let body = match release.bad {
        Some(bad) => view! {
            <div class="bad-release" role="alert" data-testid="bad-mark">
                <strong>"⚠ Marked bad"</strong>
                {format!(" by {} on {}: {}", bad.by, format_time(bad.at), bad.reason)}
                <p class="muted">"It is promoted nowhere and nothing rolls back to it until the mark is cleared."</p>
                <button class="secondary" on:click=move |_| submit(false)>"Clear the mark"</button>
            </div>
        }
        .into_any(),
        None => view! {
            <form class="filters" on:submit=move |ev| { ev.prevent_default(); submit(true) }>
                <label>"Stop this release"
                    <input required maxlength="500" placeholder="why it must not go further" prop:value=reason
                        on:input=move |ev| reason.set(event_target_value(&ev)) />
                </label>
                <button class="action danger" type="submit">"Mark bad"</button>
            </form>
        }
        .into_any(),
    };
    view! {
        {body}
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
    }
}
